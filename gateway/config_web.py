"""Where the gateway is reached: its public URL and the host names it answers to.

Redirect URIs and Secure cookies are built from these, never from a request's Host header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from gateway.config_values import ConfigError, is_ip, is_loopback
from gateway.log_redaction import redact_url

# A GATEWAY_TRUSTED_HOSTS entry: a host name, optionally with a leading dot (its subdomains).
HOST_NAME = re.compile(r"\.?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def trusted_hosts(env: Mapping[str, str]) -> list[str]:
    """Host names only: Werkzeug compares them with the Host header's name, so a URL, a
    port or `*` would never match (or, were it honoured, admit any host)."""
    hosts = [h.strip().lower() for h in env.get("GATEWAY_TRUSTED_HOSTS", "").split(",")]
    for host in (h for h in hosts if h):
        if not HOST_NAME.fullmatch(host) and not is_ip(host):
            raise ConfigError(
                "GATEWAY_TRUSTED_HOSTS must list host names such as gw.example.org (no scheme, "
                f"port, path or wildcard; .example.org admits its subdomains), got {host!r}"
            )
    return [h for h in hosts if h]


def public_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "GATEWAY_PUBLIC_URL must be an http(s) URL such as https://gw.example, "
            f"got {redact_url(raw)!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("GATEWAY_PUBLIC_URL must be an origin with no path, query or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError("GATEWAY_PUBLIC_URL must use https unless its host is a loopback address")
    return f"{parts.scheme}://{parts.netloc}"

"""The outside services the gateway is configured to use: Redis, an SMTP relay, and the
calendar providers, each provider reading its own variables as its module describes them
(connectors/registry.py), so nothing here names one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from connectors import registry
from connectors.provider_spec import ProviderConfig, SettingError
from gateway.config_values import ConfigError
from gateway.log_redaction import redact_url
from gateway.storage import redis_client


def redis_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("GATEWAY_REDIS_URL")
    if not raw:
        return None
    try:
        redis_client.parse(raw)
    except redis_client.RedisUrlError as error:
        raise ConfigError(str(error)) from None
    return raw


def smtp_url(env: Mapping[str, str]) -> str | None:
    """smtp://[user:password@]host[:port] (STARTTLS, 587) or smtps:// (implicit TLS, 465)."""
    raw = env.get("GATEWAY_SMTP_URL")
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
        raise ConfigError(
            "GATEWAY_SMTP_URL must be smtp://{user}:{password}@host:port (STARTTLS) or smtps://... "
            f"(implicit TLS), got {redact_url(raw)!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("GATEWAY_SMTP_URL must have no path, query or fragment")
    return raw


def smtp_from(env: Mapping[str, str], public_host: str) -> str:
    raw = env.get("GATEWAY_SMTP_FROM") or f"consent-gateway@{public_host or 'localhost'}"
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", raw):
        raise ConfigError(f"GATEWAY_SMTP_FROM must be an e-mail address, got {raw!r}")
    return raw


def providers(
    env: Mapping[str, str], emulator_url: str | None, *, required: bool = True
) -> tuple[ProviderConfig, ...]:
    """Each provider reads its own variables, as its module declares them."""
    emulator_client: tuple[str, str] | None = None
    if emulator_url is not None:
        from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

        emulator_client = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    try:
        providers = registry.configure(env, emulator_url, emulator_client)
    except SettingError as error:
        raise ConfigError(str(error)) from None
    signs_in = [p for p in providers if registry.spec(p.kind).capabilities.sign_in]
    if not signs_in and required:
        raise ConfigError(
            f"no sign-in provider is configured: set {registry.enable_hints()}, "
            "or GATEWAY_EMULATOR_URL"
        )
    return providers

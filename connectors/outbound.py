"""Outgoing HTTP to an address a member typed (a CalDAV server, an ICS feed): the SSRF guard.

The gateway runs inside a deployment; a member who can make it fetch any URL could reach its
Redis, its cloud's metadata service or an intranet. So every request to such an address:
- may only be https, or plain http to loopback (which itself needs the allowlist);
- resolves the host once, refuses it when any address it resolves to is loopback,
  private, link-local, multicast, unspecified, reserved, shared (CGNAT) or a cloud
  metadata address, unless `GATEWAY_OUTBOUND_ALLOWLIST` allows it, and then connects to
  exactly that checked address (pinned: no second DNS lookup between check and connect,
  so DNS rebinding cannot swap it), keeping the host name for SNI, the certificate check
  and the `Host` header;
- follows at most `MAX_REDIRECTS` redirects itself, checking each target the same way
  (and dropping credentials when the origin changes);
- goes through `HTTPS_PROXY` when it is set (as every provider call, connectors/http.py),
  tunnelled with CONNECT to the checked address, never the name, so the proxy cannot
  resolve it anew; plain http (loopback only) never goes through a proxy;
- is cut off past `MAX_RESPONSE_BYTES` (or the session's own `max_bytes`: an ICS feed
  is bigger than a CalDAV answer) of (decoded) body or `TOTAL_SECONDS` for the whole
  chain, and each connect or read waits at most what is left of that.

The address rules and the allowlist are in connectors/outbound_guard.py; this module is the
session that applies them to every hop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from connectors.errors import ProviderUnavailable
from connectors.http import environment_proxies
from connectors.outbound_guard import Allowlist, OutboundGuard, Target

MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
TOTAL_SECONDS = 10.0
CONNECT_SECONDS = 3.0
READ_SECONDS = 8.0
READ_CHUNK = 64 * 1024


class _PinnedAdapter(HTTPAdapter):
    """Connects to the address the guard checked, never to a fresh DNS answer; TLS still
    names and verifies the host (SNI and certificate), and the Host header keeps it."""

    def __init__(self, guard: OutboundGuard, session: GuardedSession) -> None:
        super().__init__(pool_connections=4, pool_maxsize=4, max_retries=0)
        self.guard = guard
        self.session = session

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        target: Target = request.pinned_target  # type: ignore[attr-defined]
        host_params["host"] = target.address
        host_params["port"] = target.port
        if target.scheme == "https":
            pool_kwargs["server_hostname"] = target.host
            pool_kwargs["assert_hostname"] = target.host
        return host_params, pool_kwargs

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        deadline = self.session.deadline()
        target = self.guard.check_url(str(request.url))
        request.pinned_target = target  # type: ignore[attr-defined]
        request.headers["Host"] = target.host_header
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProviderUnavailable("the server took too long")
        bounded = (min(CONNECT_SECONDS, left), min(READ_SECONDS, left))
        try:
            proxies = environment_proxies(str(request.url)) if target.scheme == "https" else {}
            response = super().send(request, True, bounded, verify, cert, proxies or None)
        except requests.RequestException as error:
            raise ProviderUnavailable(
                f"the server did not answer ({type(error).__name__})"
            ) from None
        response._content = _read_bounded(response, deadline, self.session.max_bytes)
        return response


def _read_bounded(response: requests.Response, deadline: float, max_bytes: int) -> bytes:
    """The whole (decoded) body, or `ProviderUnavailable` past the size (code
    `too_large`) or the deadline."""
    raw = response.raw
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise ProviderUnavailable("the server took too long")
            read1 = getattr(raw, "read1", None)
            chunk = (
                read1(READ_CHUNK, decode_content=True)
                if read1
                else raw.read(READ_CHUNK, decode_content=True)
            )
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise ProviderUnavailable("the server's answer is too large", code="too_large")
            chunks.append(chunk)
    except (OSError, requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(
            f"the server's answer broke off ({type(error).__name__})"
        ) from None
    except Exception as error:  # urllib3's ProtocolError, DecodeError, ReadTimeoutError
        if isinstance(error, ProviderUnavailable):
            raise
        raise ProviderUnavailable(
            f"the server's answer broke off ({type(error).__name__})"
        ) from None
    finally:
        response.close()
    return b"".join(chunks)


class GuardedSession(requests.Session):
    """A requests session for member-typed addresses: every request, every redirect and
    every retry an auth handler sends goes through the guard (see the module docstring)."""

    def __init__(
        self,
        guard: OutboundGuard,
        ca_bundle: str | None = None,
        total_seconds: float = TOTAL_SECONDS,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.trust_env = False  # no proxy, netrc or CA bundle from the environment
        self.verify = ca_bundle or True
        self.max_redirects = MAX_REDIRECTS
        self.total_seconds = total_seconds
        self._deadline: float | None = None
        adapter = _PinnedAdapter(guard, self)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def deadline(self) -> float:
        return (
            self._deadline if self._deadline is not None else time.monotonic() + self.total_seconds
        )

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Follow redirects here (checked per hop), within one deadline for the chain."""
        outer = self._deadline is None
        if outer:
            self._deadline = time.monotonic() + self.total_seconds
        kwargs["allow_redirects"] = False
        kwargs.pop("proxies", None)
        try:
            response = super().send(request, **kwargs)
            hops = 0
            while response.is_redirect and outer:
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise ProviderUnavailable("the server redirected too often")
                request = _next_hop(request, response)
                response = super().send(request, **kwargs)
            return response
        finally:
            if outer:
                self._deadline = None


def _next_hop(
    request: requests.PreparedRequest, response: requests.Response
) -> requests.PreparedRequest:
    location = response.headers.get("location") or ""
    following = request.copy()
    following.url = urljoin(str(request.url), location)
    old, new = urlsplit(str(request.url)), urlsplit(following.url)
    if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
        following.headers.pop("Authorization", None)
        following.headers.pop("Cookie", None)
    if response.status_code == 303:
        following.method = "GET"
        following.body = None
        for name in ("Content-Type", "Content-Length", "Transfer-Encoding"):
            following.headers.pop(name, None)
    following.headers.pop("Host", None)
    return following


def guarded_session(
    allowlist: Iterable[str] | str | None, ca_bundle: str | None = None
) -> GuardedSession:
    """A session for the given allowlist text (as in `GATEWAY_OUTBOUND_ALLOWLIST`)."""
    text = allowlist if isinstance(allowlist, str) or allowlist is None else ",".join(allowlist)
    return GuardedSession(OutboundGuard(Allowlist.parse(text)), ca_bundle)

"""Outgoing HTTP for every connector: one CA bundle, bounded timeouts, no redirects.

`trust_env` is off so that `REQUESTS_CA_BUNDLE` cannot silently replace the configured CA
bundle (requests merges environment settings over `Session.verify`, which MSAL relies on).
The proxy variables alone are honoured, when set: `HTTPS_PROXY` (and `HTTP_PROXY`), with
`NO_PROXY` exempting hosts (`environment_proxies`), for clusters whose egress goes through
a proxy (deploy/k8s/overlays/*/egress-proxy.yaml); unset, every call goes direct.
"""

from __future__ import annotations

import email.utils
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httplib2
import requests

from connectors import trace_context
from connectors.errors import ProviderUnavailable

# (connect, read) seconds: well under a gunicorn worker timeout (SECURITY.md T19).
DEFAULT_TIMEOUT = (3.0, 10.0)
# Connections kept alive per provider for free/busy: as many as the gateway fetches grants
# at once (services/freebusy_fetch.py FETCH_THREADS), so a 200-grant fan-out's calls all
# find one; with fewer, the calls past the pool's size opened (and threw away) their own,
# a TLS handshake each on both sides.
FANOUT_CONNECTIONS = 256


class ProviderSession(requests.Session):
    """A requests session that always has a timeout and never follows redirects."""

    def __init__(
        self,
        ca_bundle: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ):
        super().__init__()
        self.trust_env = False
        self.verify = ca_bundle or True
        self.max_redirects = 0
        self.default_timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("proxies", environment_proxies(url))
        if traced := trace_context.headers():  # the W3C trace of the request being answered
            kwargs["headers"] = {**traced, **(kwargs.get("headers") or {})}
        return super().request(method, url, *args, **kwargs)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number (Graph sends fractions) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# The variables that decide an http(s) URL's proxy (urllib reads either case).
PROXY_VARIABLES = tuple(
    name
    for base in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
)


def environment_proxies(url: str) -> dict[str, str]:
    """The proxies HTTPS_PROXY / HTTP_PROXY name for `url`, none when unset or when NO_PROXY
    exempts its host: only these variables of the environment, never REQUESTS_CA_BUNDLE.

    Asked on every provider call: requests' lookup walks the whole environment each time
    (about 1 ms of a cold free/busy fan-out's CPU per call, README "Benchmarks"), so the
    answer is kept per scheme and host for as long as the proxy variables are unchanged."""
    parts = urlsplit(url)
    settings = tuple(os.environ.get(name) for name in PROXY_VARIABLES)
    return dict(_proxies_for(f"{parts.scheme}://{parts.netloc}", settings))


@lru_cache(maxsize=256)
def _proxies_for(origin: str, settings: tuple[str | None, ...]) -> tuple[tuple[str, str], ...]:
    """requests' answer for `origin` under the proxy variables' values `settings` (part
    of the key only: a change of them is a new entry)."""
    return tuple(requests.utils.get_environ_proxies(origin).items())


def get_json(session: requests.Session, url: str) -> dict[str, Any]:
    """GET a JSON object, turning every failure into `ProviderUnavailable`."""
    try:
        response = session.get(url)
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"could not read {url}: {type(error).__name__}") from error
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"{url} did not answer with a JSON object")
    return body


class _BoundedConnect:
    """httplib2 uses one timeout for connecting and reading: connect (TCP and TLS) under
    the shorter budget, then read under the longer one."""

    connect_timeout, read_timeout = DEFAULT_TIMEOUT
    timeout: float
    sock: Any

    def connect(self) -> None:
        self.timeout = self.connect_timeout
        try:
            super().connect()  # type: ignore[misc]
        finally:
            self.timeout = self.read_timeout
        if self.sock is not None:
            self.sock.settimeout(self.read_timeout)


class _BoundedHttpsConnection(_BoundedConnect, httplib2.HTTPSConnectionWithTimeout):
    pass


class _BoundedHttpConnection(_BoundedConnect, httplib2.HTTPConnectionWithTimeout):
    pass


class BoundedHttp(httplib2.Http):
    """An httplib2 client (google-api-python-client's transport) with the same
    (connect, read) bounds as `ProviderSession`, and the same proxy variables (httplib2's
    default reads HTTPS_PROXY / NO_PROXY when set, and nothing else)."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        super().__init__(ca_certs=ca_bundle, timeout=DEFAULT_TIMEOUT[1])

    def request(self, uri: str, *args: Any, connection_type: Any = None, **kwargs: Any) -> Any:
        if connection_type is None:
            https = urlsplit(uri).scheme == "https"
            connection_type = _BoundedHttpsConnection if https else _BoundedHttpConnection
        if traced := trace_context.headers():  # the W3C trace of the request being answered
            args, kwargs = _with_headers(traced, args, kwargs)
        return super().request(uri, *args, connection_type=connection_type, **kwargs)


class HttpPool:
    """httplib2 clients (each keeps its connection alive) shared by every grant and thread
    of one provider: a call borrows one, the most recently returned first, so calls reuse
    the connections made last instead of each thread keeping its own. With one client per
    thread, a cold fan-out's calls landed on pool threads with and without a connection
    and paid 0 to 9 TLS handshakes a round (README, "Benchmarks"). At most `keep` idle
    clients are kept; one whose call raised is closed, never lent again."""

    def __init__(self, make: Callable[[], httplib2.Http], keep: int = FANOUT_CONNECTIONS) -> None:
        self._make = make
        self._keep = keep
        self._idle: list[httplib2.Http] = []
        self._lock = threading.Lock()

    @contextmanager
    def borrowed(self) -> Iterator[httplib2.Http]:
        with self._lock:
            http = self._idle.pop() if self._idle else None
        if http is None:
            http = self._make()
        try:
            yield http
        except BaseException:
            http.close()  # its connection may be half-used: never lend it again
            raise
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(http)
                return
        http.close()


def _with_headers(
    added: dict[str, str], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """httplib2's request(uri, method, body, headers, ...) arguments with `added` among the
    headers, wherever the caller put them; the caller's own values win."""
    if len(args) > 2:
        return (*args[:2], {**added, **(args[2] or {})}, *args[3:]), kwargs
    return args, {**kwargs, "headers": {**added, **(kwargs.get("headers") or {})}}

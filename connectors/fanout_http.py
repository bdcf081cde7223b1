"""A provider's per-grant calls (Graph's free/busy fan-out) through urllib3 directly.

requests' layers around urllib3 cost about half of a Graph getSchedule call's CPU in this
process (README, "Benchmarks"): `Session.send` and `HTTPAdapter.send` stat the CA path
three times a call, build a response and a case-insensitive dict, extract cookies into
the session's jar and run hooks. A cold fan-out's calls share one GIL, so that CPU was
most of the spread between its first and last call. `FanoutHttp` keeps what
`ProviderSession` guarantees and drops the rest:

- the configured CA bundle (requests' own, certifi's, when none is), certificate and
  host name checked; `REQUESTS_CA_BUNDLE` and every other variable but the proxy ones
  are never read;
- the (connect, read) timeout; no redirect followed (a 3xx is an answer); no retry: a
  call that fails raises `NoAnswer`;
- HTTPS_PROXY / HTTP_PROXY with NO_PROXY exempting hosts (`environment_proxies`);
- the W3C trace headers and requests' default headers (User-Agent, Accept-Encoding...);
- a pool of `pool_size` kept-alive connections per host, shared by every grant.

No cookie is kept: a cookie one grant's answer sets is never sent with another grant's
call (requests kept one jar for every grant of the provider).
"""

from __future__ import annotations

import json as jsonlib
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import certifi
import requests
import urllib3
from urllib3.connectionpool import connection_from_url

from connectors import trace_context
from connectors.http import DEFAULT_TIMEOUT, FANOUT_CONNECTIONS, environment_proxies

# settings a plain http:// pool refuses (urllib3's PoolManager drops them for it too)
TLS_ONLY = frozenset({"cert_reqs", "ca_certs"})


class NoAnswer(Exception):
    """The call got no HTTP answer (refused, timed out, TLS refused, malformed); its
    message is the failure's kind only, never a URL or a header."""


class Answer:
    """An HTTP answer, read whole: status, headers (case-insensitive) and body."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not)."""
        return jsonlib.loads(self.body)


class FanoutHttp:
    """Per-grant provider calls: `call(method, url, headers, json)` -> `Answer`."""

    def __init__(
        self,
        ca_bundle: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        pool_size: int = FANOUT_CONNECTIONS,
    ) -> None:
        self.timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self.headers: dict[str, str] = dict(requests.utils.default_headers())
        self._pool_settings: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": pool_size,  # past it, a connection is made and not kept (no wait)
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": ca_bundle or certifi.where(),
            "retries": False,
            "timeout": self.timeout,
        }
        self._direct: dict[str, urllib3.HTTPConnectionPool] = {}  # origin -> its pool
        self._proxied: dict[str, urllib3.PoolManager] = {}  # proxy URL -> its manager
        self._lock = threading.Lock()

    def call(self, method: str, url: str, headers: Mapping[str, str], json: Any = None) -> Answer:
        """Send one request and read its answer; `json`, when given, is the body."""
        sent = {**self.headers, **trace_context.headers()}
        body = None
        if json is not None:
            body = jsonlib.dumps(json, allow_nan=False).encode()  # as requests encodes it
            sent["Content-Type"] = "application/json"
        sent.update(headers)
        return self.send(method.upper(), url, body, sent)

    def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        """The one place a request leaves (tracing wraps it: gateway/tracing_otel.py)."""
        try:
            proxy = requests.utils.select_proxy(url, environment_proxies(url))
            manager: urllib3.PoolManager | urllib3.HTTPConnectionPool
            if proxy:
                manager, target = self._through(proxy), url
            else:  # straight to the host's pool: a PoolManager's lookup costs ~15% of a call
                origin, target = _split(url)
                manager = self._pool(origin)
            response = manager.urlopen(
                method,
                target,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                timeout=self.timeout,
                assert_same_host=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise NoAnswer(type(error).__name__) from error
        return Answer(response.status, response.headers, response.data)

    def _pool(self, origin: str) -> urllib3.HTTPConnectionPool:
        """The kept-alive connections to `origin` (a connector's own hosts: a few)."""
        pool = self._direct.get(origin)
        if pool is None:
            with self._lock:
                pool = self._direct.get(origin)
                if pool is None:
                    unused = {"num_pools"} | (set() if origin.startswith("https:") else TLS_ONLY)
                    settings = {k: v for k, v in self._pool_settings.items() if k not in unused}
                    pool = self._direct[origin] = connection_from_url(origin, **settings)
        return pool

    def _through(self, proxy: str) -> urllib3.PoolManager:
        """The manager for `proxy`, made on first use."""
        with self._lock:
            manager = self._proxied.get(proxy)
            if manager is None:
                manager = self._proxied[proxy] = self._proxy_manager(proxy)
        return manager

    def _proxy_manager(self, proxy: str) -> urllib3.PoolManager:
        """As requests builds it: SOCKS by scheme, credentials in the URL as Basic."""
        if proxy.lower().startswith("socks"):
            from urllib3.contrib.socks import SOCKSProxyManager  # PySocks: only when asked

            return SOCKSProxyManager(proxy, **self._pool_settings)
        user, password = requests.utils.get_auth_from_url(proxy)
        auth = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None
        return urllib3.ProxyManager(proxy, proxy_headers=auth, **self._pool_settings)


@lru_cache(maxsize=256)
def _split(url: str) -> tuple[str, str]:
    """`url`'s origin (scheme, host, port) and request target (path and query), as
    urllib3's PoolManager splits it: the same few URLs on every call."""
    parsed = urllib3.util.parse_url(url)
    return f"{parsed.scheme}://{parsed.netloc}", parsed.request_uri

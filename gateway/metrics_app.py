"""The app side of the metrics: every request of the app counted and timed, and `GET /metrics`
answered by a WSGI mount in front of Flask (gateway/metrics.py says what is counted and why
a request that came through a proxy is refused)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from gateway.metrics import (
    BREAKER,
    BREAKER_EVENTS,
    BUILD_INFO,
    CACHE,
    CACHE_RESULTS,
    METHODS,
    OTHER,
    PROVIDER_CALLS,
    PROVIDER_KINDS,
    REDIS_ERRORS,
    REFRESH_OUTCOMES,
    REFRESHES,
    REQUEST_SECONDS,
    REQUESTS,
    REVOCATION_KINDS,
    REVOCATIONS,
    TOMBSTONE_FAILURES,
    TOMBSTONE_KINDS,
    in_flight,
    label,
    status_class,
    status_code,
    version,
)
from gateway.metrics_folder import folder_lock
from gateway.metrics_state import BreakerStateCollector, JobRunsCollector, ReconnectCountsCollector
from gateway.request_ids import ENDPOINT_KEY, UNMATCHED, install_endpoint_note

PATH = "/metrics"
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def install_metrics(app: Flask) -> None:
    """Count every request of `app` and serve /metrics in front of it."""
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry: CollectorRegistry = REGISTRY
    if multiproc_dir:
        os.makedirs(multiproc_dir, exist_ok=True)  # emptied by a test or an operator meanwhile
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    app.extensions["metrics"] = registry
    # what this app reads from elsewhere at a scrape: its own registry, not the shared one
    own = CollectorRegistry(auto_describe=False)
    services = app.extensions.get("gateway")
    if services is not None:
        own.register(JobRunsCollector(services.redis))
        own.register(ReconnectCountsCollector(services.redis))
        providers = [p.name for p in services.settings.providers]
        threshold = services.settings.breaker_failures
        own.register(BreakerStateCollector(services.redis, providers, threshold))
    _zero_families(app)

    install_endpoint_note(app)

    app.wsgi_app = MetricsMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, registry, own, multiproc_dir
    )


StartResponse = Callable[..., Any]


class MetricsMiddleware:
    """Times and counts each request of the wrapped app; answers /metrics itself."""

    def __init__(
        self,
        wsgi_app: Callable[..., Iterable[bytes]],
        registry: Any,
        own: Any = None,
        multiproc_dir: str | None = None,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.registry = registry
        self.own = own
        self.multiproc_dir = multiproc_dir
        self.children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH:
            return self.serve(environ, start_response)
        started = time.perf_counter()
        seen: list[int] = []
        gauge = in_flight()
        gauge.inc()

        def recording_start_response(status: str, headers: Any, *args: Any) -> Any:
            seen[:] = [int(status.split(" ", 1)[0])]
            return start_response(status, headers, *args)

        try:
            return self.wsgi_app(environ, recording_start_response)
        except BaseException:
            seen[:] = [500]
            raise
        finally:
            gauge.dec()
            method = environ.get("REQUEST_METHOD", "")
            endpoint = environ.get(ENDPOINT_KEY, UNMATCHED)
            method = method if method in METHODS else OTHER
            status = seen[0] if seen else 0
            counter, timer = self.children_of(endpoint, method, status)
            counter.inc()
            timer.observe(time.perf_counter() - started)

    def children_of(self, endpoint: str, method: str, status: int) -> tuple[Any, Any]:
        """The request counter's and timer's series for these labels, looked up once each:
        prometheus_client's `labels()` checks and joins its arguments on every call."""
        key = (endpoint, method, status)
        found = self.children.get(key)
        if found is None:
            found = (
                REQUESTS.labels(endpoint, method, status_code(status)),
                REQUEST_SECONDS.labels(endpoint, method, status_class(status)),
            )
            self.children[key] = found
        return found

    def serve(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if any(environ.get(name) for name in PROXY_HEADERS):
            return _answer(start_response, "404 NOT FOUND", b'{"error": "not_found"}\n', "json")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, "405 METHOD NOT ALLOWED", b"", "json", allow="GET")
        if self.multiproc_dir:
            with folder_lock(self.multiproc_dir, exclusive=False):
                body = generate_latest(self.registry)
        else:
            body = generate_latest(self.registry)
        if self.own is not None:
            body += generate_latest(self.own)
        head = environ["REQUEST_METHOD"] == "HEAD"
        return _answer(start_response, "200 OK", body, CONTENT_TYPE_LATEST, head=head)


def _answer(
    start_response: StartResponse,
    status: str,
    body: bytes,
    kind: str,
    *,
    allow: str | None = None,
    head: bool = False,
) -> list[bytes]:
    headers = [
        ("Content-Type", "application/json" if kind == "json" else kind),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if allow:
        headers.append(("Allow", allow))
    start_response(status, headers)
    return [b"" if head else body]


def _zero_families(app: Flask) -> None:
    """Every fixed label set at 0, in this process (see the module docstring)."""
    for outcome in REFRESH_OUTCOMES:
        REFRESHES.labels(outcome)
    for kind in REVOCATION_KINDS:
        REVOCATIONS.labels(kind)
    for result in CACHE_RESULTS:
        CACHE.labels(result)
    for error in ("connectionerror", "timeouterror"):
        REDIS_ERRORS.labels(error)
    for kind in TOMBSTONE_KINDS:
        TOMBSTONE_FAILURES.labels(kind)
    services = app.extensions.get("gateway")
    providers = [p.name for p in services.settings.providers] if services else []
    for provider in map(label, providers):
        for kind in PROVIDER_KINDS:
            PROVIDER_CALLS.labels(provider, kind, "ok")
        for event in BREAKER_EVENTS:
            BREAKER.labels(provider, event)
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & METHODS - {"HEAD", "OPTIONS"}):
            REQUESTS.labels(rule.endpoint, method, "500")
    BUILD_INFO.labels(version(), platform.python_version()).set(1)
    in_flight()

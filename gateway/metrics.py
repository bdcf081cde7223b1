"""Prometheus metrics: what the gateway counts, and `GET /metrics` for the scraper.

Series (every label value is from a small fixed set, never a path, id or address):

    gateway_http_requests_total{endpoint, method, status}                    exact status code
    gateway_http_request_duration_seconds{endpoint, method, status_class}   histogram
    gateway_http_requests_in_flight                                         busy threads, summed
    gateway_build_info{version, python}                                     1
    gateway_provider_calls_total{provider, kind, outcome}                   kind: signin, freebusy,
                                                                            refresh, revoke
    gateway_provider_call_duration_seconds{provider, kind}                  histogram
    gateway_freebusy_cache_total{result}                                    hit | miss
    gateway_token_refreshes_total{outcome}                                  see REFRESH_OUTCOMES
    gateway_revocations_total{kind}                                         see REVOCATION_KINDS
    gateway_redis_errors_total{error}                                       redis-py class name
    gateway_provider_breaker_events_total{provider, event}                  see BREAKER_EVENTS
    gateway_job_last_success_timestamp_seconds{task}                        from Redis, see
                                                                            storage/job_runs.py
    gateway_tombstone_write_failures_total{kind}                            grant-revocation,
                                                                            erasure
    gateway_breaker_open{provider}, gateway_grants_needing_reconnect,       from Redis, see
    gateway_rooms_needing_reconnect                                         metrics_state.py

Every family shows at start, its fixed label sets at 0 (each outcome, kind and event, each
configured provider, every endpoint's 500), so an alert's ratio or `increase()` has a
series to read before the first event instead of nothing.

`endpoint` is the Flask endpoint name ("api_v1.freebusy"), or "unmatched" when no route
matched. Services call the small functions below (`provider_call`, `cache`, `refresh`,
`revocation`, `redis_error`); importing this module does not import Flask.

/metrics is served by a WSGI mount in front of Flask (so neither the trusted-host check nor
the session or the rate limiter touch a scrape). It is meant for the cluster network only
(see deploy/k8s/base/networkpolicy.yaml): a request that came through a proxy, i.e. carries
X-Forwarded-For, Forwarded or X-Real-IP, is answered 404.

Split by what each part holds: the series and what services call (here), the app side
that counts requests and serves /metrics (metrics_app.py), the multiprocess folder
(metrics_folder.py), and what is read from Redis at each scrape (metrics_state.py).
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from typing import TYPE_CHECKING

# prometheus_client turns multiprocess mode on when the variable merely exists, and an empty
# value then puts its files in the working directory (read-only in a pod, the repository in
# a test). Empty means off here, decided before prometheus_client is imported.
# The folder is made here, not only by gunicorn's on_starting: a job's single process (the
# worker, `retention run`) has no gunicorn, and create_app sets a gauge before init_metrics runs.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR", None) == "":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
elif os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import Counter, Gauge, Histogram

from gateway.metrics_folder import forget_process as forget_process  # gunicorn child_exit

if TYPE_CHECKING:  # services import this module for the counters; only init_metrics needs Flask
    from flask import Flask

OTHER = "other"

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REFRESH_OUTCOMES = frozenset({"ok", "failed", "invalid_grant", "scope_lost"})
REVOCATION_KINDS = frozenset({"user", "admin", "provider", "system"})
# opened: 5 failures in a row; half_open: a probe let through after the cool-down; closed: a
# success after opening; rejected: a fetch not made while open; held: not made (Retry-After)
BREAKER_EVENTS = frozenset({"opened", "half_open", "closed", "rejected", "held"})
# A label value from a caller (provider name, call kind, outcome, error class): short,
# lower-case, no "@", "/" or ":"; anything else is counted as "other".
SAFE_LABEL = re.compile(r"[a-z][a-z0-9_.-]{0,39}")

KEY_VERSION = re.compile(r"[A-Za-z0-9._-]{1,32}")  # as the key ring allows
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

CACHE_RESULTS = ("hit", "miss")
PROVIDER_KINDS = ("signin", "freebusy", "refresh", "revoke")

REQUESTS = Counter(
    "gateway_http_requests",
    "HTTP requests answered, by Flask endpoint, method and exact status code.",
    ["endpoint", "method", "status"],
)
_IN_FLIGHT: list[Gauge] = []  # made by init_metrics, see in_flight()
BUILD_INFO = Gauge(
    "gateway_build_info",
    "Always 1; the labels name the gateway version and Python of the answering workers.",
    ["version", "python"],
    multiprocess_mode="livemax",
)
REQUEST_SECONDS = Histogram(
    "gateway_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint, method and status class.",
    ["endpoint", "method", "status_class"],
    buckets=LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "gateway_provider_calls",
    "Calls to a provider API, by provider, kind of call and outcome (ok or an error code).",
    ["provider", "kind", "outcome"],
)
PROVIDER_SECONDS = Histogram(
    "gateway_provider_call_duration_seconds",
    "Time a provider API call took, by provider and kind of call.",
    ["provider", "kind"],
    buckets=LATENCY_BUCKETS,
)
CACHE = Counter(
    "gateway_freebusy_cache",
    "Free/busy cache entries looked up, by result (hit or miss).",
    ["result"],
)
REFRESHES = Counter(
    "gateway_token_refreshes",
    "Access-token refreshes at a provider, by outcome.",
    ["outcome"],
)
REVOCATIONS = Counter(
    "gateway_revocations",
    "Grants ended, by who ended them (user, admin, provider, system).",
    ["kind"],
)
REDIS_ERRORS = Counter(
    "gateway_redis_errors",
    "Redis errors that reached a request, by redis-py error class.",
    ["error"],
)

BREAKER = Counter(
    "gateway_provider_breaker_events",
    "Free/busy circuit breaker events per provider (opened, half_open, closed, rejected, held).",
    ["provider", "event"],
)

TOMBSTONE_KINDS = ("grant-revocation", "erasure")  # services/tombstones.py
TOMBSTONE_FAILURES = Counter(
    "gateway_tombstone_write_failures",
    "Tombstones not written to the log outside Redis (the erasure happened; a restore of an "
    "older backup would bring it back), by kind.",
    ["kind"],
)

KEYRING_NEWEST = Gauge(
    "gateway_keyring_newest",
    "1 per process for the key-ring version it wraps new data keys with: during a rotation's "
    "rollout every process must show the same one before `keys rotate` (deploy/ROTATION.md).",
    ["version"],
    multiprocess_mode="liveall",
)


# -- what services call ------------------------------------------------------------------------
def provider_call(provider: str, kind: str, outcome: str, seconds: float | None = None) -> None:
    """One provider API call: `kind` e.g. "freebusy", "refresh", "revoke", "token";
    `outcome` "ok" or the connector error code ("provider_unavailable", "invalid_grant"...)."""
    provider, kind = _safe(provider), _safe(kind)
    PROVIDER_CALLS.labels(provider, kind, _safe(outcome)).inc()
    if seconds is not None:
        PROVIDER_SECONDS.labels(provider, kind).observe(max(0.0, seconds))


def cache(hit: bool, n: int = 1) -> None:
    """`n` free/busy cache entries found fresh (hit) or fetched/missing (miss)."""
    if n > 0:
        CACHE.labels("hit" if hit else "miss").inc(n)


def refresh(outcome: str) -> None:
    REFRESHES.labels(outcome if outcome in REFRESH_OUTCOMES else OTHER).inc()


def revocation(kind: str) -> None:
    REVOCATIONS.labels(kind if kind in REVOCATION_KINDS else OTHER).inc()


def breaker(provider: str, event: str) -> None:
    BREAKER.labels(_safe(provider), event if event in BREAKER_EVENTS else OTHER).inc()


def redis_error(error: BaseException | str = "error") -> None:
    name = error if isinstance(error, str) else type(error).__name__
    REDIS_ERRORS.labels(_safe(name.lower())).inc()


def tombstone_failure(kind: str) -> None:
    TOMBSTONE_FAILURES.labels(kind if kind in TOMBSTONE_KINDS else OTHER).inc()


def keyring_newest(version: str) -> None:
    KEYRING_NEWEST.labels(version if KEY_VERSION.fullmatch(version) else OTHER).set(1)


def _safe(value: str) -> str:
    return value if SAFE_LABEL.fullmatch(value) else OTHER


def label(value: str) -> str:
    """A caller's label value as every series here shows it ("other" when unsafe)."""
    return _safe(value)


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else OTHER


def status_code(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER


def version() -> str:
    try:
        return metadata.version("consent-gateway")
    except metadata.PackageNotFoundError:  # run from a checkout, not installed
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def in_flight() -> Gauge:
    """gateway_http_requests_in_flight, made on first use: a gauge without labels writes its
    file at once, and importing this module (the gunicorn master does, for its log
    formatter) must write nothing, before the folder even exists."""
    if not _IN_FLIGHT:
        _IN_FLIGHT.append(
            Gauge(
                "gateway_http_requests_in_flight",
                "Requests being answered now (threads busy), summed over the live workers.",
                multiprocess_mode="livesum",
            )
        )
    return _IN_FLIGHT[0]


def init_metrics(app: Flask) -> None:
    """Count every request of `app` and serve /metrics in front of it (metrics_app.py,
    imported here on call: importing this module, as services do, does not import Flask)."""
    from gateway.metrics_app import install_metrics

    install_metrics(app)

"""Rate limits on the booking API, shared by every worker through Redis.

One budget per caller across all /v1 routes: an API client has its own `rate_limit`, a
signed-in user and an anonymous address (which includes every failed Bearer attempt) a
fixed one. The moving-window strategy counts exactly (no 2x burst at a window edge).
Users and addresses are keyed by a keyed hash, so no user id or IP address sits in a
rate-limit key in the clear.

The counting is the `limits` library's (its moving-window Lua script and Redis storage);
this module only says who is counted, against which limit, and what a refusal looks like.
Limits of 200 or more per window are decided in the process from leases claimed in Redis a
batch at a time, so a warm request makes no Redis round trip to be counted; a client can
then overshoot its limit by at most one lease (1/100 of it, at most 1,000) per worker
process in any window (gateway/limits_leases.py says why). Smaller limits are counted in
Redis on every request, exactly.
Flask-Limiter, which wraps the same library, was measured to spend about 0.12 ms of Python
per request resolving its per-request limits: a fifth of a warm free/busy request, the
gateway's hot path (README, "Benchmarks").

Failure mode: the API must not go down because the limiter's storage did. On a storage
error the limiter counts in this process instead (the same limits, per worker) and tries
Redis again after `REDIS_RETRY_SECONDS`. Its Redis connection has short timeouts, so a
hung server costs a request at most about a quarter of a second here.

A caller that cannot be looked up because Redis is not answering is not counted at all:
the route answers it 503 with a short Retry-After (gateway/errors.py), and nothing it does
in that time can succeed. Counting it by address instead charged every API client the
anonymous limit during an outage, and the 429s it earned told clients to stay away for up
to a minute after Redis was back.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import Blueprint, Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from gateway.errors import error_response
from gateway.limits_leases import Leases
from gateway.services.api_clients import DEFAULT_RATE_LIMIT
from gateway.services.callers import Caller
from gateway.storage.errors import StorageError
from gateway.storage.redis_client import limiter_store

# the caller of this request (None: anonymous); raises StorageError when it cannot be told
CallerLookup = Callable[[], Caller | None]

log = logging.getLogger(__name__)

USER_RATE_LIMIT = "300/minute"
ANONYMOUS_RATE_LIMIT = "60/minute"
SCOPE = "v1"
KEY_PREFIX = "gw:limits"
STORAGE_TIMEOUT = 0.25
REDIS_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Refusal:
    """A limit the caller has used up, and whole seconds until it lets one more in."""

    limit: RateLimitItem
    retry_after: int


class ApiLimiter:
    """Moving windows per caller in Redis, or in this process while Redis is unreachable."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._shared = MovingWindowRateLimiter(storage)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._leases = Leases()
        self._shared_again_at = 0.0

    def hit(self, key: str, limits: str, fallback: str = "") -> Refusal | None:
        """Count one request of `key` against each of `limits` ("10/second;500/hour");
        `fallback` (the anonymous limit by default) when `limits` does not parse."""
        for item in _items(limits, fallback or ANONYMOUS_RATE_LIMIT):
            strategy = self._strategy()
            try:
                if strategy is self._shared:
                    allowed = self._leases.hit(strategy, item, SCOPE, key)
                else:
                    allowed = strategy.hit(item, SCOPE, key)
            except Exception as error:  # any storage failure: never fail the request on it
                log.warning(
                    "rate limit storage failed (%s); counting in this process",
                    type(error).__name__,
                )
                self._shared_again_at = time.monotonic() + REDIS_RETRY_SECONDS
                strategy = self._local
                allowed = strategy.hit(item, SCOPE, key)
            if not allowed:
                return Refusal(item, _retry_after(strategy, item, key))
        return None

    def reset(self) -> None:
        """Forget every window (tests and the fuzzer start from empty ones)."""
        self.storage.reset()
        self._local.storage.reset()
        self._leases.clear()

    def close(self) -> None:
        pool = getattr(getattr(self.storage, "storage", None), "connection_pool", None)
        if pool is not None:
            pool.disconnect()

    def _strategy(self) -> MovingWindowRateLimiter:
        if self._shared_again_at and time.monotonic() < self._shared_again_at:
            return self._local
        return self._shared


def init_limits(
    app: Flask,
    redis_url: str,
    *,
    limited: Blueprint,
    public_endpoints: Collection[str],
    caller: CallerLookup,
) -> ApiLimiter:
    """Bind a limiter to `app` (one per app: its storage is this app's Redis) for the
    `limited` blueprint's routes but its `public_endpoints`. It runs before the blueprint's
    own checks, so failed Bearer attempts are counted too; `caller` says who is asking."""
    storage = limiter_store(redis_url, timeout=STORAGE_TIMEOUT, key_prefix=KEY_PREFIX)
    limiter = ApiLimiter(storage)
    app.extensions["gateway_limiter"] = limiter

    def limit_api_calls() -> Any:
        if request.endpoint in public_endpoints:
            return None
        counted = budget(caller)
        if counted is None:
            return None  # the caller cannot be looked up now: the route answers 503
        refused = current_app.extensions["gateway_limiter"].hit(*counted)
        if refused is None:
            return None
        body, status = error_response(
            429, "rate_limited", f"Too many requests: the limit is {refused.limit}."
        )
        return body, status, {"Retry-After": str(refused.retry_after)}

    app.before_request_funcs.setdefault(limited.name, []).insert(0, limit_api_calls)
    return limiter


def _items(limits: str, fallback: str) -> tuple[RateLimitItem, ...]:
    try:
        return _parsed(limits)
    except ValueError:  # a stored limit that no longer parses: the caller kind's default
        log.warning("a caller's rate limit is unreadable; counting it against %s", fallback)
        return _parsed(fallback)


@lru_cache(maxsize=256)
def _parsed(limits: str) -> tuple[RateLimitItem, ...]:
    """A handful of distinct limit strings, parsed once each rather than per request."""
    return tuple(parse_many(limits))


def _retry_after(strategy: MovingWindowRateLimiter, item: RateLimitItem, key: str) -> int:
    """Whole seconds until the window lets one more request in (at least 1)."""
    expiry = item.get_expiry()
    try:
        reset_at = strategy.get_window_stats(item, SCOPE, key).reset_time
    except Exception:  # storage gone between the hit and this read
        log.warning("rate limit window unreadable; answering Retry-After from the limit")
        return expiry
    return max(1, min(expiry, math.ceil(reset_at - time.time())))


def budget(caller: CallerLookup) -> tuple[str, str, str] | None:
    """Who is counted, against which limits, and which apply when those do not parse: an
    API client by its id, a user or an address by a keyed hash of it. None when the caller
    cannot be looked up because storage is not answering (the route then answers 503)."""
    try:
        found = caller()
    except StorageError:
        return None
    except Exception:  # the limiter must never raise; the route answers for itself
        found = None
    if found is None:
        anonymous = "addr:" + _pseudonym(request.remote_addr or "unknown")
        return anonymous, ANONYMOUS_RATE_LIMIT, ANONYMOUS_RATE_LIMIT
    if found.kind == "client":
        return f"client:{found.id}", found.rate_limit or DEFAULT_RATE_LIMIT, DEFAULT_RATE_LIMIT
    return f"{found.kind}:" + _pseudonym(found.id), USER_RATE_LIMIT, USER_RATE_LIMIT


def _pseudonym(value: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:24]

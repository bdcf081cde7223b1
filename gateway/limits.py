"""Rate limits on the booking API, shared by every worker through Redis.

One budget per caller across all /v1 routes: an API client has its own `rate_limit`, a
signed-in user and an anonymous address (which includes every failed Bearer attempt) a
fixed one. The moving-window strategy counts exactly (no 2x burst at a window edge).
Users and addresses are keyed by a keyed hash, so no user id or IP address sits in a
rate-limit key in the clear.

Failure mode: the API must not go down because the limiter's storage did. On a storage
error Flask-Limiter falls back to per-process in-memory counters (the same limits, per
worker) and probes Redis again with back-off; `swallow_errors` lets a request through
should even that fail. The limiter's own Redis connection has short timeouts, so a hung
server costs a request at most about half a second here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from typing import Any, cast

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.blueprints.api_v1 import PUBLIC_ENDPOINTS, api_v1, request_caller
from gateway.errors import error_response
from gateway.services.callers import Caller
from gateway.storage.redis_client import limiter_storage

log = logging.getLogger(__name__)

USER_RATE_LIMIT = "300/minute"
ANONYMOUS_RATE_LIMIT = "60/minute"
STRATEGY = "moving-window"
SCOPE = "v1"
KEY_PREFIX = "gw:limits"
STORAGE_TIMEOUT = 0.25


def init_limits(app: Flask, redis_url: str) -> Limiter:
    """Bind a limiter to `app` (one per app: its storage is this app's Redis)."""
    uri, deployment_options = limiter_storage(redis_url)
    limiter = Limiter(
        key_func=rate_key,
        storage_uri=uri,
        storage_options=cast(
            dict[str, str | int],
            {
                **deployment_options,
                "socket_connect_timeout": STORAGE_TIMEOUT,
                "socket_timeout": STORAGE_TIMEOUT,
                "retry": Retry(NoBackoff(), 0),
                "key_prefix": KEY_PREFIX,
            },
        ),
        strategy=STRATEGY,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        headers_enabled=False,
        key_prefix="",
    )
    limiter.shared_limit(
        rate_limit, scope=SCOPE, exempt_when=lambda: request.endpoint in PUBLIC_ENDPOINTS
    )(api_v1)
    limiter.init_app(app)
    app.extensions["gateway_limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def too_many(error: RateLimitExceeded) -> Any:
        body, status = error_response(
            429, "rate_limited", f"Too many requests: the limit is {error.limit.limit}."
        )
        return body, status, {"Retry-After": str(retry_after(limiter))}

    return limiter


def retry_after(limiter: Limiter) -> int:
    """Whole seconds until the breached window lets one more request in (at least 1)."""
    current = limiter.current_limit
    try:
        reset_at = current.reset_at if current is not None else 0
    except Exception:  # storage gone between the hit and this read
        log.warning("rate limit window unreadable; answering Retry-After from the limit")
        return current.limit.get_expiry() if current is not None else 60
    expiry = current.limit.get_expiry() if current is not None else 60
    return max(1, min(expiry, math.ceil(reset_at - time.time())))


def _caller() -> Caller | None:
    """The request's caller, or None when there is none or it cannot be read now (the
    route then answers 401 or 503; a limiter callback must never raise)."""
    try:
        return request_caller()
    except Exception:
        return None


def rate_key() -> str:
    found = _caller()
    if found is None:
        return "addr:" + _pseudonym(request.remote_addr or "unknown")
    if found.kind == "client":
        return f"client:{found.id}"
    return f"{found.kind}:" + _pseudonym(found.id)


def rate_limit() -> str:
    found = _caller()
    if found is None:
        return ANONYMOUS_RATE_LIMIT
    if found.kind == "client":
        return found.rate_limit or ANONYMOUS_RATE_LIMIT
    return USER_RATE_LIMIT


def _pseudonym(value: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:24]

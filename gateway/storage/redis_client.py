"""One Redis client per app, with timeouts that fail fast instead of hanging a worker.

redis-py waits for the OS defaults (about a minute) on a hung server; here a connect or a
read gives up after half a second and is retried once, so a dead Redis turns into a quick
503 rather than a pile of stuck requests.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

CONNECT_TIMEOUT = 0.5
SOCKET_TIMEOUT = 0.5


def connect(url: str) -> redis.Redis:
    """A client for `url` (redis://, rediss:// or unix://) returning str, not bytes."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        health_check_interval=30,
        client_name="consent-gateway",
    )

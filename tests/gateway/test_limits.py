"""Rate limits decided in the process from leases claimed in Redis (gateway/limits_leases.py).

Each `ApiLimiter` here stands for one worker process: two of them share nothing but the
real Redis, as two gunicorn processes do (tests/serving/test_two_processes.py checks the
same across real processes for a small limit, which is counted exactly).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from limits import parse

from gateway.limits import KEY_PREFIX, SCOPE, ApiLimiter
from gateway.limits_leases import MAX_LEASE, lease_size
from gateway.storage.redis_client import limiter_store


@pytest.fixture
def workers(redis_client: Any, redis_server: Any) -> Iterator[list[ApiLimiter]]:
    """Two workers' limiters on one freshly emptied Redis."""
    built = [
        ApiLimiter(limiter_store(redis_server.url, timeout=1.0, key_prefix=KEY_PREFIX))
        for _ in range(2)
    ]
    yield built
    for limiter in built:
        limiter.close()


def counted(limiter: ApiLimiter, limit: str, key: str) -> int:
    """Requests of `key` that Redis's window holds for `limit` (what every worker sees)."""
    item = parse(limit)
    return item.amount - limiter._shared.get_window_stats(item, SCOPE, key).remaining


def test_a_lease_is_a_hundredth_of_the_limit_and_small_limits_get_none() -> None:
    assert lease_size(parse("1000/minute")) == 10
    assert lease_size(parse("600/minute")) == 6
    assert lease_size(parse("199/minute")) == 1  # counted in Redis on every request
    assert lease_size(parse("6/minute")) == 1
    assert lease_size(parse("1000000/hour")) == MAX_LEASE


def test_requests_within_a_lease_are_admitted_without_counting_them_in_redis_again(
    workers: list[ApiLimiter],
) -> None:
    worker = workers[0]

    assert worker.hit("client:big", "1000/minute") is None
    assert counted(worker, "1000/minute", "client:big") == 10  # one claim of ten
    for _ in range(9):
        assert worker.hit("client:big", "1000/minute") is None
    assert counted(worker, "1000/minute", "client:big") == 10  # nine decided in the process
    assert worker.hit("client:big", "1000/minute") is None
    assert counted(worker, "1000/minute", "client:big") == 20  # the next claim


def test_a_limit_under_two_hundred_is_counted_in_redis_on_every_request(
    workers: list[ApiLimiter],
) -> None:
    for number in range(1, 4):
        assert workers[number % 2].hit("client:small", "199/minute") is None
        assert counted(workers[0], "199/minute", "client:small") == number


def test_two_workers_together_admit_no_more_than_the_limit_in_its_first_window(
    workers: list[ApiLimiter],
) -> None:
    """Every admission was counted in Redis first; near the limit a whole lease no longer
    fits and each worker counts one request at a time, so little is left unused."""
    admitted = sum(workers[n % 2].hit("client:shared", "400/minute") is None for n in range(500))

    leftover = 2 * (lease_size(parse("400/minute")) - 1)  # at most a lease each, less one
    assert 400 - leftover <= admitted <= 400
    refused = workers[0].hit("client:shared", "400/minute")
    assert refused is not None
    assert 1 <= refused.retry_after <= 60


def test_across_windows_two_workers_overshoot_by_at_most_one_lease_each(
    workers: list[ApiLimiter],
) -> None:
    """The documented bound: in any window, at most the limit plus one lease per worker."""
    limit = "200/second"
    bound = 200 + 2 * lease_size(parse(limit))
    recent: deque[float] = deque()
    most = 0
    ends = time.monotonic() + 2.5  # two and a half windows of alternating requests
    number = 0
    while time.monotonic() < ends:
        number += 1
        if workers[number % 2].hit("client:busy", limit) is None:
            now = time.monotonic()
            recent.append(now)
            while recent[0] <= now - 1.0:
                recent.popleft()
            most = max(most, len(recent))

    assert most <= bound
    assert most > 0


def test_forgetting_the_windows_forgets_the_leases_too(workers: list[ApiLimiter]) -> None:
    worker = workers[0]
    assert worker.hit("client:reset", "1000/minute") is None
    worker.reset()

    assert worker.hit("client:reset", "1000/minute") is None
    assert counted(worker, "1000/minute", "client:reset") == 10  # a new claim, not the old lease

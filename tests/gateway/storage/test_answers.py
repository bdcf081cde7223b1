"""The answers' generation: read at most once per lease, ended at once by a bump in the
same process, and a bump acknowledged only once every older lease has run out."""

from __future__ import annotations

import time

import redis

from gateway.storage import answers


def test_a_lease_keeps_the_generation_it_read_until_it_runs_out(
    redis_client: redis.Redis,
) -> None:
    lease = answers.Lease(redis_client)
    assert lease.current() == "0"

    redis_client.incr(answers.GENERATION)  # another process's bump, seen from here

    assert lease.current() == "0"
    time.sleep(answers.LEASE_SECONDS)
    assert lease.current() == "1"


def test_a_bump_in_this_process_ends_every_lease_at_once(redis_client: redis.Redis) -> None:
    leases = [answers.Lease(redis_client) for _ in range(2)]
    assert [lease.current() for lease in leases] == ["0", "0"]

    answers.bump(redis_client, settled=False)

    assert [lease.current() for lease in leases] == ["1", "1"]


def test_settling_waits_until_no_lease_from_before_the_bump_is_left(
    redis_client: redis.Redis,
) -> None:
    elsewhere = answers.Lease(redis_client)
    elsewhere.current()
    held = elsewhere._held
    assert held is not None

    answers.bump(redis_client)
    answers.settle()

    assert time.monotonic() >= held[1]  # the lease taken before the bump is over
    assert redis_client.get(answers.GENERATION) == "1"

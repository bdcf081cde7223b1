"""A stale answer recomputed costs what a warm one does (issue 17): the worker remembers which
grants it read as active under the answers' generation, so it reads no grant again while
the generation stands; a grant ended elsewhere is never taken for active once its ending
has answered (the ending bumps the generation and waits out the lease: storage/answers.py,
tests/gateway/storage/test_grant_status_bumps.py). Real Redis, seen with MONITOR."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.storage import answers, keys
from gateway.storage.grants import REVOKED, GrantStore
from tests.gateway.services.test_freebusy_latency import NINE_TO_TEN, age_cache, busy
from tests.gateway.storage.test_grant_status_bumps import commands
from tests.hosts import Hosts


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def stale_room(app: Flask, hosts: Hosts, redis_client: redis.Redis) -> tuple[str, str, str]:
    """A room whose one cached day is expired (within the stale bound), the provider holding
    the background refresh's call long enough for the test."""
    uid, gid, room = hosts.hosted_room("google", "atlas")
    freebusy = app.extensions["gateway"].freebusy
    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert busy(hosts.query(room), room) == [NINE_TO_TEN]
    age_cache(redis_client, uid, freebusy.ttl_seconds + 10)
    hosts.emulator.client.fault("google.freebusy", delay_ms=3000)
    return uid, gid, room


def test_a_stale_answer_recomputed_reads_no_grant_it_knows_active(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    uid, gid, room = stale_room(app, hosts, redis_client)
    freebusy = app.extensions["gateway"].freebusy
    with commands(redis_client) as first:
        assert hosts.query(room).rooms[room].stale is True
    freebusy.remembered.clear()  # recomputed, as when a remembered answer's time runs out
    with commands(redis_client) as again:
        answer = hosts.query(room)

    assert (answer.rooms[room].stale, busy(answer, room)) == (True, [NINE_TO_TEN])
    grant_reads = [c for c in first + again if c.startswith(f"HMGET {keys.grant(uid, gid)} ")]
    assert len(grant_reads) == 1
    assert grant_reads[0] in first


def test_a_grant_ended_in_another_process_is_not_taken_for_active_once_that_answered(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    """The other process is played with raw commands (its bump is not this process's own,
    which would end every lease here at once): the status written, the generation moved,
    then the lease waited out, as `settle()` does before that process answers."""
    uid, gid, room = stale_room(app, hosts, redis_client)
    freebusy = app.extensions["gateway"].freebusy
    assert hosts.query(room).rooms[room].stale is True  # the grant now known active here
    assert gid in freebusy.cached_days.known_active.now()
    freebusy.remembered.clear()

    GrantStore(redis_client).mark_ended(uid, gid, status=REVOKED, reason="elsewhere")
    redis_client.incr(answers.GENERATION)
    time.sleep(answers.LEASE_SECONDS)  # the other process's settle(): then it answers

    assert gid not in freebusy.cached_days.known_active.now()
    assert hosts.query(room).rooms[room].status == "needs_reconnect"

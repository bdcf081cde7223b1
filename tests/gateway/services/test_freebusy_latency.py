"""Provider latency out of the read path (issue 15 item 7): a cached span answers at once and
is refreshed in the background; only a span with nothing cached waits, for the cold deadline;
slow answers open the breaker like failures. Real Redis, the emulator's delay faults.

"At once" is shown by content, never by a stopwatch: with the provider holding the call for
seconds, the answer already returned holds the cached busy times (not the event added at
the provider since) while the emulator has counted the background call and the refresh is
still running; the old synchronous path, with its 8 s deadline, would have waited for the
provider and shown the new event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.services.breaker import SLOW_CALLS
from gateway.services.freebusy_fetch import GrantNeed
from gateway.storage import keys
from tests.hosts import ACCOUNTS, DAY, FRONTEND, Hosts

FREEBUSY_ENDPOINT = {"google": "google.freebusy", "microsoft": "microsoft.getschedule"}
PROVIDERS = ("google", "microsoft")
NINE_TO_TEN = ("2026-11-25T09:00:00+00:00", "2026-11-25T10:00:00+00:00")
ONE_TO_TWO = ("2026-11-25T13:00:00+00:00", "2026-11-25T14:00:00+00:00")
PATIENCE = 30.0  # how long a test waits for background work before it fails (not a bound)


@pytest.fixture
def app(build_gateway: Any, make_env: Any) -> Flask:
    """The production deadline (8 s) and a 2 s cold deadline."""
    return build_gateway(make_env(GATEWAY_FREEBUSY_COLD_DEADLINE_SECONDS="2"))


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def busy(answer: Any, room_id: str) -> list[tuple[str, str]]:
    return [(i.start.isoformat(), i.end.isoformat()) for i in answer.rooms[room_id].busy]


def age_cache(client: redis.Redis, uid: str, seconds: float) -> int:
    """Make every cached day of `uid` `seconds` older, as if fetched that long ago."""
    aged = 0
    for key in client.scan_iter(f"{keys.user_tag(uid)}:fb:*"):
        entry = json.loads(client.get(key))
        entry["t"] -= seconds
        client.set(key, json.dumps(entry), keepttl=True)
        aged += 1
    return aged


def until(check: Callable[[], bool]) -> None:
    """Wait for background work to show (fails after PATIENCE: it never happened)."""
    give_up = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < give_up, "the background work never happened"
        time.sleep(0.02)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_cached_span_answers_at_once_while_a_slow_provider_is_refreshed_behind_it(
    app: Flask, hosts: Hosts, redis_client: redis.Redis, provider: str
) -> None:
    uid, _, room = hosts.hosted_room(provider, "atlas")
    account, endpoint = ACCOUNTS[provider], FREEBUSY_ENDPOINT[provider]
    freebusy = app.extensions["gateway"].freebusy
    freebusy.cold_deadline_seconds = 8.0  # a request that waited would see the new event
    hosts.event(account, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert busy(hosts.query(room), room) == [NINE_TO_TEN]
    assert age_cache(redis_client, uid, freebusy.ttl_seconds + 10) == 1
    hosts.event(account, "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z")
    hosts.emulator.client.fault(endpoint, delay_ms=5000)  # the provider holds the next call
    calls = hosts.calls(endpoint)

    answer = hosts.query(room)
    assert answer.rooms[room].status == "ok"
    assert answer.rooms[room].stale is True
    assert busy(answer, room) == [NINE_TO_TEN]  # the cache's, not the provider's answer

    until(lambda: hosts.calls(endpoint) == calls + 1)  # the refresh called, in the background
    assert freebusy.refresher.pending() == 1  # and the provider still holds that call
    again = hosts.query(room)  # asked meanwhile: the same stale answer, no second call
    assert (again.rooms[room].stale, busy(again, room)) == (True, [NINE_TO_TEN])

    assert freebusy.refresher.wait_idle(timeout=PATIENCE)
    fresh = hosts.query(room)
    assert fresh.rooms[room].stale is False
    assert busy(fresh, room) == [NINE_TO_TEN, ONE_TO_TWO]
    assert hosts.calls(endpoint) == calls + 1


def test_a_stale_answer_is_remembered_until_the_refresh_makes_its_days_fresh(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    """A stale answer is served again from the worker's memory (not recomputed with a read
    of every expired grant, issue 17), yet the refresh that makes its days fresh ends it at
    once: here it would otherwise be remembered for an hour."""
    uid, _, room = hosts.hosted_room("google", "atlas")
    freebusy = app.extensions["gateway"].freebusy
    freebusy.remembered.stale_for = 3600.0
    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert busy(hosts.query(room), room) == [NINE_TO_TEN]
    age_cache(redis_client, uid, freebusy.ttl_seconds + 10)
    freebusy.remembered.clear()  # as when the TTL ends the remembered fresh answer
    hosts.event("alice@example.com", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z")
    hosts.emulator.client.fault("google.freebusy", delay_ms=1000)

    stale = hosts.query(room)
    assert (stale.rooms[room].stale, busy(stale, room)) == (True, [NINE_TO_TEN])
    assert hosts.query(room) is stale  # remembered: the same answer, not a new one

    assert freebusy.refresher.wait_idle(timeout=PATIENCE)
    fresh = hosts.query(room)
    assert (fresh.rooms[room].stale, busy(fresh, room)) == (False, [NINE_TO_TEN, ONE_TO_TWO])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_cold_span_waits_only_the_cold_deadline_then_the_fetch_fills_the_cache(
    app: Flask, hosts: Hosts, provider: str
) -> None:
    """Nothing cached and the provider holding the call 4 s: the request gives up after the
    cold deadline (2 s) with "unknown", never free, though the fetch deadline (8 s) would
    have let it wait; the fetch goes on and the next request is answered from the cache."""
    _, _, room = hosts.hosted_room(provider, "atlas")
    endpoint = FREEBUSY_ENDPOINT[provider]
    hosts.event(ACCOUNTS[provider], "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.emulator.client.fault(endpoint, delay_ms=4000)
    calls = hosts.calls(endpoint)
    assert app.extensions["gateway"].settings.freebusy_deadline_seconds == 8

    answer = hosts.query(room)
    assert answer.rooms[room].status == "unknown"
    assert answer.rooms[room].busy == ()

    until(lambda: hosts.query(room).rooms[room].status == "ok")
    assert busy(hosts.query(room), room) == [NINE_TO_TEN]
    assert hosts.calls(endpoint) == calls + 1  # the one fetch, finished after the request


def test_a_cached_day_past_the_stale_bound_is_not_served(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    """A refresh that never happens cannot stretch the stale bound: a day older than fresh +
    stale is waited for like a cold one and, the provider failing, is "unknown"."""
    uid, _, room = hosts.hosted_room("google", "atlas")
    freebusy = app.extensions["gateway"].freebusy
    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert busy(hosts.query(room), room) == [NINE_TO_TEN]
    freebusy.freshness.stale_seconds = 60
    age_cache(redis_client, uid, freebusy.ttl_seconds + 61)
    hosts.emulator.client.fault("google.freebusy", status=503, times=-1)
    answer = hosts.query(room)
    assert (answer.rooms[room].status, answer.rooms[room].busy) == ("unknown", ())
    assert freebusy.refresher.pending() == 0  # it was waited for, not left to the refresher


def test_a_revocation_during_a_background_refresh_leaves_nothing(
    app: Flask,
    hosts: Hosts,
    redis_client: redis.Redis,
    build_gateway: Any,
    gateway_env: dict[str, str],
) -> None:
    """The refresh started under the grant's epoch; another worker revokes the grant while
    the provider holds the call; the refresh's answer is dropped, nothing of the grant is
    left in Redis or in this worker, and no answer from before the revocation is served."""
    uid, gid, room = hosts.hosted_room("microsoft", "borealis")
    freebusy = app.extensions["gateway"].freebusy
    hosts.event("carol@contoso.example", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert busy(hosts.query(room), room) == [NINE_TO_TEN]
    age_cache(redis_client, uid, freebusy.ttl_seconds + 10)
    hosts.emulator.client.fault("microsoft.getschedule", delay_ms=2000)
    calls = hosts.calls("microsoft.getschedule")
    assert hosts.query(room).rooms[room].stale is True
    until(lambda: hosts.calls("microsoft.getschedule") == calls + 1)

    other_worker = build_gateway(gateway_env).extensions["gateway"]
    other_worker.revocation.revoke_grant(uid, gid, reason="test", actor="admin")

    assert freebusy.refresher.wait_idle(timeout=PATIENCE)
    assert list(redis_client.scan_iter(f"{keys.user_tag(uid)}:fb:*")) == []
    assert hosts.query(room).rooms[room].status == "unbound"
    assert freebusy.remembered.holding(gid) == []
    assert [k for k in freebusy.composer._published if gid in k[0]] == []


def test_slow_answers_open_the_breaker_and_a_prompt_probe_closes_it(
    app: Flask, hosts: Hosts
) -> None:
    """SLOW_CALLS answers slower than the limit open the breaker (each slow answer is still
    used); while open, no call and "unknown"; after the cool-down a slow probe opens it again,
    a prompt one closes it. Each query asks for a new day, so each is cold and calls."""
    _, _, room = hosts.hosted_room("google", "atlas")
    freebusy = app.extensions["gateway"].freebusy
    breaker = freebusy.breaker
    breaker.slow_seconds, breaker.cool_down_seconds = 1.0, 1.0
    freebusy.cold_deadline_seconds = 6.0  # these requests wait for the slow answers
    days = iter(range(40))

    def ask() -> str:
        start = DAY[0] + timedelta(days=next(days))
        return str(freebusy.query(FRONTEND, [room], start, start + timedelta(1)).rooms[room].status)

    hosts.emulator.client.fault("google.freebusy", delay_ms=1500, times=SLOW_CALLS)
    for _ in range(SLOW_CALLS):
        assert breaker.state("google") == "closed"
        assert ask() == "ok"
    assert breaker.state("google") == "open"
    calls = hosts.calls("google.freebusy")
    assert ask() == "unknown"
    assert hosts.calls("google.freebusy") == calls  # open: no call at all

    until(lambda: breaker.state("google") == "half-open")
    hosts.emulator.client.fault("google.freebusy", delay_ms=1500)
    assert ask() == "ok"  # the probe, slow: used, and the breaker opens again
    assert hosts.calls("google.freebusy") == calls + 1
    assert breaker.state("google") == "open"

    until(lambda: breaker.state("google") == "half-open")
    assert ask() == "ok"  # a prompt probe
    assert breaker.state("google") == "closed"
    assert hosts.calls("google.freebusy") == calls + 2


def test_two_workers_answering_stale_refresh_the_grant_once(
    app: Flask,
    hosts: Hosts,
    redis_client: redis.Redis,
    build_gateway: Any,
    gateway_env: dict[str, str],
) -> None:
    """Both workers answer from the cache at once; the refresh behind them is single-flight
    across processes: one provider call, and both then answer fresh."""
    uid, _, room = hosts.hosted_room("google", "atlas")
    here = app.extensions["gateway"].freebusy
    there = build_gateway(gateway_env).extensions["gateway"].freebusy
    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert busy(hosts.query(room), room) == [NINE_TO_TEN]
    age_cache(redis_client, uid, here.ttl_seconds + 10)
    hosts.emulator.client.fault("google.freebusy", delay_ms=2000)
    calls = hosts.calls("google.freebusy")

    for freebusy in (here, there):
        answer = freebusy.query(FRONTEND, [room], *DAY)
        assert (answer.rooms[room].stale, busy(answer, room)) == (True, [NINE_TO_TEN])
    assert here.refresher.wait_idle(timeout=PATIENCE)
    assert there.refresher.wait_idle(timeout=PATIENCE)

    for freebusy in (here, there):
        answer = freebusy.query(FRONTEND, [room], *DAY)
        assert (answer.rooms[room].stale, busy(answer, room)) == (False, [NINE_TO_TEN])
    assert hosts.calls("google.freebusy") == calls + 1


def test_a_refresh_queued_before_the_host_restricted_processing_fetches_nothing(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    """Restriction wins over a refresh already queued: the refresher's run checks it first,
    so the provider is not called for a host who paused processing, and the room reads
    "restricted"."""
    uid, gid, room = hosts.hosted_room("google", "atlas")
    services = app.extensions["gateway"]
    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert busy(hosts.query(room), room) == [NINE_TO_TEN]
    age_cache(redis_client, uid, services.freebusy.ttl_seconds + 10)
    need = GrantNeed(uid, gid, "google", slots={(room, version_of(services, room))})
    need.days.add(DAY[0].date())
    calls = hosts.calls("google.freebusy")

    services.privacy.restrict(uid, True, actor=uid)
    assert services.freebusy.refresher.submit(need)
    assert services.freebusy.refresher.wait_idle(timeout=PATIENCE)
    assert hosts.calls("google.freebusy") == calls
    assert hosts.status(room) == "restricted"


def version_of(services: Any, room_id: str) -> str:
    """The version of the calendar binding behind the room (its cache entries' key)."""
    [(_, _, version)] = services.rooms.pointer_sets([room_id])[room_id]
    return str(version)

"""T19, the circuit breaker: after ≥ 5 consecutive failures a provider is not called for a
cool-down, its rooms answer "unknown", then one probe decides; invalid_grant ends a grant.

SECURITY.md §5 T19: "breaker opens after ≥ 5 consecutive failures"; "a room is never
published as free when the provider errored"; "invalid_grant → integration marked
needs-reconsent and refresh token deleted".
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from flask import Flask
from prometheus_client import REGISTRY

from gateway.services.breaker import THRESHOLD
from gateway.storage import keys
from tests.faults.support import (
    FREEBUSY_ENDPOINT,
    TOKEN_ENDPOINT,
    keys_of_grant,
    measured,
    secrets_left,
)
from tests.hosts import DAY, FRONTEND, Hosts

PROVIDERS = ("google", "microsoft")
COOL_DOWN = 1.0  # the production default is 30 s; the behaviour is the same


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    app.extensions["gateway"].freebusy.breaker.cool_down_seconds = COOL_DOWN
    return Hosts(app, sign_in, another_browser)


def events(provider: str, event: str) -> float:
    value = REGISTRY.get_sample_value(
        "gateway_provider_breaker_events_total", {"provider": provider, "event": event}
    )
    return value or 0.0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_five_failures_open_the_breaker_then_one_probe_closes_it(
    hosts: Hosts, provider: str
) -> None:
    """T19 breaker: 503s → the 5th consecutive failure opens it (1 query = 3 calls, so the
    2nd query opens it after 2 calls); while open 0 calls and every room "unknown"; after
    the cool-down one probe goes, succeeds, closes it, and the room is answered again."""
    _, _, room = hosts.hosted_room(provider, "atlas")
    breaker = hosts.services.freebusy.breaker
    endpoint = FREEBUSY_ENDPOINT[provider]
    opened_before = events(provider, "opened")
    hosts.emulator.client.fault(endpoint, status=503, times=THRESHOLD)  # then it recovers

    assert hosts.status(room) == "unknown"
    assert breaker.state(provider) == "closed"
    assert hosts.calls(endpoint) == 3
    assert hosts.status(room) == "unknown"
    assert hosts.calls(endpoint) == THRESHOLD  # stopped retrying the moment it opened
    assert breaker.state(provider) == "open"
    assert events(provider, "opened") == opened_before + 1
    opened_at = time.monotonic()

    for _ in range(5):
        assert hosts.status(room) == "unknown"
    assert hosts.calls(endpoint) == THRESHOLD  # 0 calls while open

    probed = False  # the cool-down may end between the state read and the query
    while not probed and breaker.state(provider) == "open":
        status = hosts.status(room)
        probed = status == "ok"  # then that query was the probe
        assert status in ("unknown", "ok")
        time.sleep(0.05)
    measured(
        f"T19 breaker {provider}: half-open {time.monotonic() - opened_at:.2f} s after the"
        " query that opened it returned (cool-down 1 s)"
    )
    if not probed:
        assert breaker.state(provider) == "half-open"
        assert hosts.status(room) == "ok"
    assert hosts.calls(endpoint) == THRESHOLD + 1  # the one probe
    assert breaker.state(provider) == "closed"
    assert events(provider, "closed") >= 1


def test_a_failed_probe_opens_the_breaker_again(hosts: Hosts) -> None:
    """T19 breaker, half-open: the probe fails → open for another cool-down (1 call)."""
    _, _, room = hosts.hosted_room("google", "atlas")
    breaker = hosts.services.freebusy.breaker
    hosts.emulator.client.fault("google.freebusy", status=500, times=-1)
    hosts.status(room)
    hosts.status(room)
    assert breaker.state("google") == "open"
    time.sleep(COOL_DOWN + 0.1)
    assert breaker.state("google") == "half-open"
    before = hosts.calls("google.freebusy")
    assert hosts.status(room) == "unknown"
    assert hosts.calls("google.freebusy") == before + 1  # no retries in the probe
    assert breaker.state("google") == "open"


def test_the_breaker_is_per_provider_and_shared_by_every_process(
    hosts: Hosts, build_gateway: Any, make_env: Any
) -> None:
    """T19 breaker: Google open does not stop Microsoft; a second gateway (another worker:
    its own app, its own connections) sees the same open breaker and makes 0 calls."""
    _, _, google_room = hosts.hosted_room("google", "atlas")
    _, _, microsoft_room = hosts.hosted_room("microsoft", "borealis")
    hosts.emulator.client.fault("google.freebusy", status=503, times=-1)
    hosts.status(google_room)
    hosts.status(google_room)
    assert hosts.services.freebusy.breaker.state("google") == "open"
    # a cold request's fetch goes on after its answer: a call it had under way when the
    # breaker opened may still reach the emulator, and is not the other worker's
    assert hosts.services.freebusy.fetcher.wait_idle(30)
    calls = hosts.calls("google.freebusy")

    other_worker = build_gateway(make_env())
    other = other_worker.extensions["gateway"].freebusy
    answer = other.query(FRONTEND, [google_room, microsoft_room], *DAY)
    assert answer.rooms[google_room].status == "unknown"
    assert answer.rooms[microsoft_room].status == "ok"
    assert hosts.calls("google.freebusy") == calls


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failing_token_endpoint_counts_and_opens_the_breaker(hosts: Hosts, provider: str) -> None:
    """T19 breaker: the token endpoint is the provider too; five grants whose refresh fails
    (429 with a Retry-After too long to wait for) open the breaker, and a sixth grant's
    room is "unknown" with 0 token calls."""
    rooms = [hosts.hosted_room(provider, f"room-{n}", due_for_refresh=True)[2] for n in range(6)]
    endpoint = TOKEN_ENDPOINT[provider]
    hosts.emulator.client.fault(endpoint, status=429, retry_after=5, times=-1)
    for room in rooms[:THRESHOLD]:
        assert hosts.status(room) == "unknown"
    assert hosts.services.freebusy.breaker.state(provider) == "open"
    calls = hosts.calls(endpoint)
    assert hosts.status(rooms[-1]) == "unknown"
    assert hosts.calls(endpoint) == calls


@pytest.mark.parametrize("provider", PROVIDERS)
def test_invalid_grant_during_a_fetch_revokes_the_grant_and_deletes_its_tokens(
    hosts: Hosts, provider: str, redis_client: redis.Redis
) -> None:
    """T19: the token endpoint answers invalid_grant → the room is "needs_reconnect" (not an
    outage: "unknown" would hide it from the host); in Redis the
    grant is "revoked" with a reason asking to connect again, its data key, tokens and
    subject are gone, and no lock or cached datum of it is left; 0 calls afterwards."""
    uid, gid, room = hosts.hosted_room(provider, "atlas", due_for_refresh=True)
    hosts.emulator.client.fault(TOKEN_ENDPOINT[provider], error="invalid_grant")
    assert hosts.status(room) == "needs_reconnect"
    record = redis_client.hgetall(keys.grant(uid, gid))
    assert record["status"] == "revoked"
    assert "Connect the calendar again" in record["reason"]
    assert secrets_left(redis_client, uid, gid) == []
    assert keys_of_grant(redis_client, uid, gid) == []
    calls = hosts.emulator.client.calls()
    assert hosts.status(room) == "needs_reconnect"
    assert hosts.emulator.client.calls() == calls
    assert hosts.services.freebusy.breaker.state(provider) == "closed"  # not an outage

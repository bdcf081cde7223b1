"""T19, provider faults through the emulator: 429 with Retry-After, 5xx, malformed and slow
answers, for Google freeBusy, Graph getSchedule and both token endpoints.

SECURITY.md §5 T19: no retry before the Retry-After; at most 2 retries, with jitter; a room
is never published as free when its provider erred (it is "unknown"); every outbound call
is bounded (connect ≤ 3 s, read ≤ 10 s, below the gunicorn timeout).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask

from gateway.services.api_clients import ApiClientService
from tests.faults.support import FREEBUSY_ENDPOINT, TOKEN_ENDPOINT, CallClock, measured
from tests.hosts import Hosts

PROVIDERS = ("google", "microsoft")


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


# whole seconds: 2, not 1, so that the second query still falls within the hold when the
# first is slow on a loaded machine (with 1 s, one run's second query came after it ended)
@pytest.mark.parametrize("retry_after", [1.5, 2], ids=["fractional", "integer"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_429_is_retried_no_sooner_than_its_retry_after(
    hosts: Hosts, provider: str, retry_after: float
) -> None:
    """T19: 429 + Retry-After (fractional as Graph sends, or whole seconds) → the one retry
    comes no sooner than Retry-After, and the room is then answered."""
    _, _, room = hosts.hosted_room(provider, "atlas")
    endpoint = FREEBUSY_ENDPOINT[provider]
    hosts.emulator.client.fault(endpoint, status=429, retry_after=retry_after)
    with CallClock(hosts.emulator, endpoint) as clock:
        status = hosts.status(room)
    assert status == "ok"
    assert len(clock.times) == 2
    gap = clock.gaps[0]
    measured(f"T19 {endpoint} Retry-After {retry_after}: retry {gap:.3f} s after the 429")
    assert gap >= retry_after - CallClock.POLL  # the clock polls: its error is one poll


LOAD_SLACK = 1.0  # seconds


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failing_provider_gets_at_most_two_jittered_retries_and_the_room_is_unknown(
    hosts: Hosts, provider: str, status: int
) -> None:
    """T19: a persistent 5xx → 1 call + at most 2 retries (back-off 0.2 s then 0.4 s, each
    * U(0.5, 1.5)); the room is "unknown", never free."""
    _, _, room = hosts.hosted_room(provider, "atlas")
    endpoint = FREEBUSY_ENDPOINT[provider]
    hosts.emulator.client.fault(endpoint, status=status, times=-1)
    with CallClock(hosts.emulator, endpoint) as clock:
        answer = hosts.query(room)
    assert answer.rooms[room].status == "unknown"
    assert answer.rooms[room].busy == ()
    assert len(clock.times) == 3
    first, second = clock.gaps
    measured(f"T19 {endpoint} {status}: 3 calls, gaps {first:.3f} s and {second:.3f} s")
    # Early is a bug at any load; late by up to LOAD_SLACK is a busy 2-core machine (seen:
    # 0.60 s for the first gap while six suites ran), still far from an uncapped back-off.
    assert 0.1 - CallClock.POLL <= first <= 0.3 + LOAD_SLACK
    assert 0.2 - CallClock.POLL <= second <= 0.6 + LOAD_SLACK


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_retry_waits_are_jittered(hosts: Hosts, provider: str) -> None:
    """T19 "with jitter": the first back-off of five failing fetches, measured at the
    emulator, is drawn from 0.2 s * U(0.5, 1.5), not one fixed value. (The breaker is set
    not to open here, which test_breaker.py covers.)"""
    _, _, room = hosts.hosted_room(provider, "atlas")
    hosts.services.freebusy.breaker.threshold = 1000
    endpoint = FREEBUSY_ENDPOINT[provider]
    hosts.emulator.client.fault(endpoint, status=503, times=-1)
    firsts = []
    for _ in range(5):
        with CallClock(hosts.emulator, endpoint) as clock:
            assert hosts.status(room) == "unknown"
        assert len(clock.times) == 3
        firsts.append(clock.gaps[0])
    measured(f"T19 {endpoint} first back-offs: " + ", ".join(f"{g:.3f}" for g in firsts))
    assert max(firsts) - min(firsts) > 2 * CallClock.POLL


@pytest.fixture
def quick_app(build_gateway: Any, make_env: Any) -> Flask:
    return build_gateway(make_env(GATEWAY_FREEBUSY_DEADLINE_SECONDS="2"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_retry_after_beyond_the_deadline_is_not_retried_and_holds_the_grant(
    quick_app: Flask, sign_in: Any, another_browser: Any, provider: str
) -> None:
    """T19 "no retry before 7 s" (the catalogue's own figure): 429 + Retry-After: 7 → no
    retry in this request, and no call for that grant from the next requests either (the
    hold is in Redis, so every worker honours it); other grants of the provider still go."""
    hosts = Hosts(quick_app, sign_in, another_browser)
    _, _, held = hosts.hosted_room(provider, "atlas")
    endpoint = FREEBUSY_ENDPOINT[provider]
    hosts.emulator.client.fault(endpoint, status=429, retry_after=7)
    started = time.monotonic()
    assert hosts.status(held) == "unknown"
    took = time.monotonic() - started
    calls = hosts.calls(endpoint)
    assert calls == 1
    for _ in range(3):
        assert hosts.status(held) == "unknown"
    assert hosts.calls(endpoint) == calls  # 0 calls within the 7 s
    measured(f"T19 {endpoint} Retry-After 7: 1 call, answered unknown in {took:.2f} s, 0 more")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_truncated_body_leaves_the_room_unknown(hosts: Hosts, provider: str) -> None:
    """T19: a 200 whose JSON is cut off mid-value → "unknown", never free, never a 500."""
    _, _, room = hosts.hosted_room(provider, "atlas")
    hosts.emulator.client.fault(FREEBUSY_ENDPOINT[provider], body="malformed", times=-1)
    answer = hosts.query(room)
    assert answer.rooms[room].status == "unknown"
    assert answer.rooms[room].busy == ()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_provider_is_cut_off_at_the_deadline_and_the_room_is_unknown(
    quick_app: Flask, sign_in: Any, another_browser: Any, provider: str
) -> None:
    """T19: an answer slower than the free/busy deadline (2 s here) → the query answers at
    the deadline with the room "unknown"; other providers' rooms still answer."""
    hosts = Hosts(quick_app, sign_in, another_browser)
    _, _, slow = hosts.hosted_room(provider, "slow")
    other = "microsoft" if provider == "google" else "google"
    _, _, fine = hosts.hosted_room(other, "fine")
    hosts.emulator.client.fault(FREEBUSY_ENDPOINT[provider], delay_ms=4000, times=-1)
    started = time.monotonic()
    answer = hosts.query(slow, fine)
    took = time.monotonic() - started
    assert answer.rooms[slow].status == "unknown"
    assert answer.rooms[fine].status == "ok"
    measured(f"T19 {provider} answering in 4 s: query answered in {took:.2f} s (deadline 2 s)")
    assert took < 2 + 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failing_api_over_http_is_a_200_with_the_room_unknown(
    hosts: Hosts, provider: str, app: Flask
) -> None:
    """T19 and DESIGN "never a 500": POST /v1/freebusy with the provider failing → 200, the
    room's status "unknown" with no busy list that could read as free."""
    _, _, room = hosts.hosted_room(provider, "atlas")
    store = app.extensions["gateway"].api_clients
    _, secret = ApiClientService(store, app.extensions["gateway"].audit).create(
        "frontend", audiences=["frontend"]
    )
    hosts.emulator.client.fault(FREEBUSY_ENDPOINT[provider], status=503, times=-1)
    response = app.test_client().post(
        "/v1/freebusy",
        json={
            "rooms": [room],
            "timeMin": "2026-11-25T00:00:00Z",
            "timeMax": "2026-11-26T00:00:00Z",
        },
        headers={"Authorization": f"Bearer {secret}"},
        base_url="http://127.0.0.1:8000",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    found = response.get_json()["rooms"][room]
    assert found["status"] == "unknown"
    assert found["busy"] == []


# -- token refresh ---------------------------------------------------------------------------
# whole seconds: 2, not 1, so that the second query still falls within the hold when the
# first is slow on a loaded machine (with 1 s, one run's second query came after it ended)
@pytest.mark.parametrize("retry_after", [1.5, 2], ids=["fractional", "integer"])
def test_a_google_token_429_is_retried_no_sooner_than_its_retry_after(
    hosts: Hosts, retry_after: float
) -> None:
    """T19 on refresh: Google's token endpoint answers 429 + Retry-After → the retry comes
    no sooner (google-auth alone retries after 1 s whatever the header says)."""
    _, _, room = hosts.hosted_room("google", "atlas", due_for_refresh=True)
    hosts.emulator.client.fault("google.token", status=429, retry_after=retry_after)
    with CallClock(hosts.emulator, "google.token") as clock:
        status = hosts.status(room)
    assert status == "ok"
    assert len(clock.times) == 2
    measured(
        f"T19 google.token Retry-After {retry_after}: retry {clock.gaps[0]:.3f} s after the 429"
    )
    assert clock.gaps[0] >= retry_after - CallClock.POLL


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_persistent_token_failure_gets_at_most_two_retries(hosts: Hosts, provider: str) -> None:
    """T19 on refresh: a token endpoint answering 503 → at most 3 calls in all (Google: the
    gateway's two jittered retries; Microsoft: MSAL makes one call and throttles), the room
    is "unknown" and the grant stays usable for later."""
    uid, gid, room = hosts.hosted_room(provider, "atlas", due_for_refresh=True)
    endpoint = TOKEN_ENDPOINT[provider]
    hosts.emulator.client.fault(endpoint, status=503, times=-1)
    with CallClock(hosts.emulator, endpoint) as clock:
        assert hosts.status(room) == "unknown"
    assert 1 <= len(clock.times) <= 3
    measured(
        f"T19 {endpoint} 503: {len(clock.times)} calls, gaps "
        + ", ".join(f"{g:.3f} s" for g in clock.gaps)
    )
    assert hosts.services.grants.get(uid, gid).status == "active"


# whole seconds: 2, not 1, so that the second query still falls within the hold when the
# first is slow on a loaded machine (with 1 s, one run's second query came after it ended)
@pytest.mark.parametrize("retry_after", [1.5, 2], ids=["fractional", "integer"])
def test_a_microsoft_token_429_is_not_repeated_before_its_retry_after(
    hosts: Hosts, retry_after: float
) -> None:
    """T19 on refresh, Microsoft: 429 + Retry-After → one call and no retry; the next
    queries make no call before Retry-After (the gateway holds the grant, MSAL throttles the
    same refresh). MSAL reads only whole seconds: a fractional Retry-After makes it wait
    its default 5 s, later than asked, never sooner."""
    _, _, room = hosts.hosted_room("microsoft", "atlas", due_for_refresh=True)
    hosts.emulator.client.fault("microsoft.token", status=429, retry_after=retry_after)
    with CallClock(hosts.emulator, "microsoft.token") as clock:
        assert hosts.status(room) == "unknown"
        assert hosts.status(room) == "unknown"
        clock.caught_up()
        assert len(clock.times) == 1
        time.sleep(retry_after + 0.1)
        after = hosts.status(room)
    if retry_after == int(retry_after):
        assert after == "ok"
        assert len(clock.times) == 2
        measured(f"T19 microsoft.token Retry-After {retry_after}: next {clock.gaps[0]:.3f} s")
        assert clock.gaps[0] >= retry_after - CallClock.POLL
    else:
        assert after == "unknown"  # MSAL still throttles (5 s): later than asked is fine
        assert len(clock.times) == 1
        measured(f"T19 microsoft.token Retry-After {retry_after}: no call for ≥ 1.6 s")
    assert hosts.services.freebusy.breaker.state("microsoft") == "closed"

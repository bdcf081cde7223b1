"""Free/busy of rooms: exact busy times only, per-room failures, single-flight, epochs."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.services.api_clients import ApiClientService
from gateway.services.freebusy_answer import QueryRefused, RoomNotVisible, as_json
from gateway.storage import keys
from tests.hosts import ACCOUNTS, DAY, FRONTEND, PLANTED, Hosts

# The sign-in, free/busy and revocation suites hold on a single server and on a cluster.
pytestmark = pytest.mark.redis_deployments

DAY_START, DAY_END = DAY


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def app(build_gateway: Any, make_env: Any) -> Flask:
    """A short provider deadline keeps the failure tests quick."""
    return build_gateway(make_env(GATEWAY_FREEBUSY_DEADLINE_SECONDS="2"))


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def query(app: Flask, rooms: list[str], start: datetime = DAY_START, end: datetime = DAY_END, **kw):
    return app.extensions["gateway"].freebusy.query(FRONTEND, rooms, start, end, **kw)


def busy(answer: Any, room_id: str) -> list[tuple[str, str]]:
    return [(i.start.isoformat(), i.end.isoformat()) for i in answer.rooms[room_id].busy]


def test_google_and_microsoft_rooms_publish_busy_times_only(
    app: Flask, hosts: Hosts, redis_contents: Any, caplog: Any
) -> None:
    alice, alice_grant = hosts.host("google", "alice@example.com")
    carol, carol_grant = hosts.host("microsoft", "carol@contoso.example")
    hosts.room("atlas", alice, alice_grant)
    hosts.room("borealis", carol, carol_grant)
    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:30:00Z")
    hosts.event("alice@example.com", "2026-11-25T06:00:00Z", "2026-11-25T07:00:00Z")  # before 08:00
    hosts.event("carol@contoso.example", "2026-11-25T17:30:00Z", "2026-11-25T19:00:00Z")

    answer = query(app, ["atlas", "borealis"])
    assert answer.rooms["atlas"].status == "ok"
    assert busy(answer, "atlas") == [("2026-11-25T09:00:00+00:00", "2026-11-25T10:30:00+00:00")]
    assert busy(answer, "borealis") == [("2026-11-25T17:30:00+00:00", "2026-11-25T18:00:00+00:00")]

    shown = json.dumps(as_json(answer))
    stored = redis_contents()
    for planted in PLANTED:
        assert planted not in shown
        assert planted not in stored
        assert planted not in caplog.text


def test_bookable_hours_follow_the_room_time_zone_across_midnight(app: Flask, hosts: Hosts) -> None:
    alice, grant = hosts.host("google", "alice@example.com")
    night = {"wednesday": [["20:00", "24:00"]], "thursday": [["00:00", "02:00"]]}
    hosts.room("nightowl", alice, grant, hours=night, zone="Europe/Berlin")
    hosts.event("alice@example.com", "2026-11-25T21:00:00Z", "2026-11-26T03:00:00Z")
    answer = query(app, ["nightowl"], DAY_START, datetime(2026, 11, 27, tzinfo=UTC))
    # 22:00 Wed to 02:00 Thu Berlin time = 21:00 to 01:00 UTC; nothing after 02:00 local.
    assert busy(answer, "nightowl") == [("2026-11-25T21:00:00+00:00", "2026-11-26T01:00:00+00:00")]


def test_a_second_query_is_served_from_the_cache(app: Flask, hosts: Hosts) -> None:
    alice, grant = hosts.host("google", "alice@example.com")
    hosts.room("atlas", alice, grant)
    query(app, ["atlas"])
    calls = hosts.emulator.client.calls()["google.freebusy"]
    again = query(app, ["atlas"])
    assert again.rooms["atlas"].status == "ok"
    assert hosts.emulator.client.calls()["google.freebusy"] == calls


def test_rooms_of_one_grant_share_one_provider_call(app: Flask, hosts: Hosts) -> None:
    alice, grant = hosts.host("google", "alice@example.com")
    rooms = [hosts.room(f"room-{n}", alice, grant) for n in range(5)]
    before = hosts.emulator.client.calls().get("google.freebusy", 0)
    answer = query(app, rooms)
    assert {a.status for a in answer.rooms.values()} == {"ok"}
    assert hosts.emulator.client.calls()["google.freebusy"] == before + 1


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "times": -1},
        {"body": "malformed", "times": -1},
        {"status": 429, "retry_after": 30, "times": -1},
        {"delay_ms": 3000, "times": -1},
    ],
)
def test_a_failing_provider_leaves_its_rooms_unknown_and_others_answer(
    app: Flask, hosts: Hosts, fault: dict[str, Any]
) -> None:
    alice, alice_grant = hosts.host("google", "alice@example.com")
    carol, carol_grant = hosts.host("microsoft", "carol@contoso.example")
    hosts.room("atlas", alice, alice_grant)
    hosts.room("borealis", carol, carol_grant)
    hosts.emulator.client.fault("google.freebusy", **fault)
    started = time.monotonic()
    answer = query(app, ["atlas", "borealis"])
    assert answer.rooms["atlas"].status == "unknown"
    assert answer.rooms["borealis"].status == "ok"
    deadline = app.extensions["gateway"].settings.freebusy_deadline_seconds
    assert time.monotonic() - started < deadline + 5  # bounded by the deadline, not the fault


def test_a_429_with_a_short_retry_after_is_retried(app: Flask, hosts: Hosts) -> None:
    alice, grant = hosts.host("google", "alice@example.com")
    hosts.room("atlas", alice, grant)
    hosts.emulator.client.fault("google.freebusy", status=429, retry_after=0.3)
    assert query(app, ["atlas"]).rooms["atlas"].status == "ok"


def test_an_old_cache_entry_is_served_stale_when_the_provider_fails(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    alice, grant = hosts.host("google", "alice@example.com")
    hosts.room("atlas", alice, grant)
    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    query(app, ["atlas"])
    ttl = app.extensions["gateway"].settings.freebusy_ttl_seconds
    for key in redis_client.scan_iter(f"{keys.user_tag(alice)}:fb:*"):
        entry = json.loads(redis_client.get(key))
        entry["t"] -= ttl + 10
        redis_client.set(key, json.dumps(entry), keepttl=True)
    hosts.emulator.client.fault("google.freebusy", status=503, times=-1)
    answer = query(app, ["atlas"])
    assert answer.rooms["atlas"].status == "ok"
    assert answer.rooms["atlas"].stale is True
    assert busy(answer, "atlas") == [("2026-11-25T09:00:00+00:00", "2026-11-25T10:00:00+00:00")]


def test_a_revocation_during_a_fetch_leaves_no_cache_behind(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    alice, grant = hosts.host("google", "alice@example.com")
    hosts.room("atlas", alice, grant)
    hosts.emulator.client.fault("google.freebusy", delay_ms=1000)
    answers: list[Any] = []
    fetch = threading.Thread(target=lambda: answers.append(query(app, ["atlas"])))
    fetch.start()
    time.sleep(0.5)  # the provider call is in flight
    app.extensions["gateway"].revocation.revoke_grant(alice, grant, reason="test", actor="admin")
    fetch.join(timeout=20)
    assert answers
    assert list(redis_client.scan_iter(f"{keys.user_tag(alice)}:fb:*")) == []
    assert query(app, ["atlas"]).rooms["atlas"].status == "unbound"


def test_fifty_identical_cold_requests_make_one_provider_call(app: Flask, hosts: Hosts) -> None:
    alice, grant = hosts.host("google", "alice@example.com")
    hosts.room("atlas", alice, grant)
    hosts.emulator.client.fault("google.freebusy", delay_ms=300)
    before = hosts.emulator.client.calls().get("google.freebusy", 0)
    barrier = threading.Barrier(50)
    statuses: list[str] = []

    def ask() -> None:
        barrier.wait()
        statuses.append(query(app, ["atlas"]).rooms["atlas"].status)

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == ["ok"] * 50
    assert hosts.emulator.client.calls()["google.freebusy"] == before + 1


def test_unknown_and_invisible_rooms_look_the_same(app: Flask, hosts: Hosts) -> None:
    alice, _ = hosts.host("google", "alice@example.com")
    app.extensions["gateway"].rooms.create(
        {
            "id": "private",
            "name": "Private",
            "time_zone": "UTC",
            "host": alice,
            "visibility": ["board"],
        }
    )
    for room in ("private", "nowhere"):
        with pytest.raises(RoomNotVisible) as refused:
            query(app, [room])
        assert refused.value.status == 404
        assert refused.value.message == f"no such room: {room}"


@pytest.mark.parametrize(
    ("rooms", "start", "end", "granularity", "message"),
    [
        ([], DAY_START, DAY_END, 0, "at least one room"),
        (["a"] * 2, DAY_START, DAY_END, 0, "named twice"),
        ([f"r{n}" for n in range(251)], DAY_START, DAY_END, 0, "at most 250 rooms"),
        (["a"], DAY_END, DAY_START, 0, "timeMax must be after timeMin"),
        (["a"], DAY_START, utc("2027-01-25T00:00"), 0, "at most 31 days"),
        (["a"], DAY_START, DAY_END, 7, "granularity must be one of"),
        (["a"], datetime(2026, 11, 25), DAY_END, 0, "time zone offset"),
    ],
)
def test_bad_queries_are_refused_clearly(
    app: Flask, rooms: list[str], start: datetime, end: datetime, granularity: int, message: str
) -> None:
    with pytest.raises(QueryRefused, match=message):
        query(app, rooms, start, end, granularity=granularity)


def test_an_unbound_room_is_unbound_never_free(app: Flask, hosts: Hosts) -> None:
    alice, _ = hosts.host("google", "alice@example.com")
    app.extensions["gateway"].rooms.create(
        {
            "id": "lonely",
            "name": "Lonely",
            "time_zone": "UTC",
            "host": alice,
            "visibility": ["frontend"],
        }
    )
    assert query(app, ["lonely"]).rooms["lonely"].status == "unbound"


def test_a_worker_serves_a_remembered_answer_until_another_worker_changes_anything(
    app: Flask,
    hosts: Hosts,
    build_gateway: Any,
    gateway_env: dict[str, str],
    redis_client: redis.Redis,
) -> None:
    """A warm answer is kept per worker and checked against one generation counter: a
    revocation made by another worker (another app here) ends it at the next request."""
    alice, grant = hosts.host("google", "alice@example.com")
    hosts.room("atlas", alice, grant)
    hosts.event("alice@example.com", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z")
    assert query(app, ["atlas"]).rooms["atlas"].busy  # fetched, cached, remembered
    # Behind the gateway's back (no generation bump) the cache goes: the worker's memory
    # still answers, which shows the warm path no longer reads the cache at all.
    redis_client.delete(*redis_client.smembers(keys.grant_cached(alice, grant)))
    assert query(app, ["atlas"]).rooms["atlas"].busy

    other_worker = build_gateway(gateway_env).extensions["gateway"]
    other_worker.revocation.revoke_grant(alice, grant, reason="test", actor="admin")

    assert query(app, ["atlas"]).rooms["atlas"].status == "unbound"


# -- what the provider does not know is never free (issue 13, item 9) ------------------------
def test_a_microsoft_item_marked_unknown_is_published_busy(app: Flask, hosts: Hosts) -> None:
    carol, grant = hosts.host("microsoft", "carol@contoso.example")
    hosts.room("borealis", carol, grant)
    hosts.event(
        "carol@contoso.example",
        "2026-11-25T09:00:00Z",
        "2026-11-25T10:00:00Z",
        show_as="unknown",
        view_code="0",
    )
    hosts.event(  # an item calling itself free in a slot whose code Graph never documents
        "carol@contoso.example",
        "2026-11-25T12:10:00Z",
        "2026-11-25T12:20:00Z",
        show_as="free",
        view_code="7",
    )
    answer = query(app, ["borealis"])
    assert answer.rooms["borealis"].status == "ok"
    assert busy(answer, "borealis") == [
        ("2026-11-25T09:00:00+00:00", "2026-11-25T10:00:00+00:00"),
        ("2026-11-25T12:00:00+00:00", "2026-11-25T12:30:00+00:00"),
    ]


# -- a refusal is the grant's state, shown to the host and the frontend (item 10) -------------
PROVIDER_APIS = {"google": "google.freebusy", "microsoft": "microsoft.getschedule"}


def ended_by_provider(app: Flask, uid: str) -> list[tuple[str, str]]:
    """The audit records of grant endings the provider caused, about this person (the
    audit trail keeps them under pseudonyms: no id in them)."""
    audit = app.extensions["gateway"].audit
    return [
        (entry.action, entry.result)
        for entry in audit.entries(subject=uid, actor="provider")
        if entry.action.startswith("grant.")
    ]


def api_status(app: Flask, room_id: str) -> str:
    """The room's status through POST /v1/freebusy, as the booking frontend reads it."""
    secret = ApiClientService(
        app.extensions["gateway"].api_clients, app.extensions["gateway"].audit
    ).create(f"booking-{room_id}", audiences=["frontend"])[1]
    answer = app.test_client().post(
        "/v1/freebusy",
        json={
            "rooms": [room_id],
            "timeMin": "2026-11-25T00:00:00Z",
            "timeMax": "2026-11-26T00:00:00Z",
        },
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["rooms"][room_id]["status"])


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_401_then_invalid_grant_revokes_the_grant_and_the_room_needs_reconnect(
    app: Flask, hosts: Hosts, provider: str
) -> None:
    uid, gid, room = hosts.hosted_room(provider, "atlas")
    hosts.emulator.client.fault(PROVIDER_APIS[provider], status=401, times=-1)
    hosts.emulator.client.fault(f"{provider}.token", error="invalid_grant", times=-1)
    token_calls = hosts.calls(f"{provider}.token")

    assert hosts.status(room) == "needs_reconnect"
    assert hosts.calls(f"{provider}.token") == token_calls + 1  # one forced refresh, refused
    grant = app.extensions["gateway"].grants.get(uid, gid)
    assert grant.status == "revoked"
    page = hosts.browsers[uid].client.get("/account").get_data(as_text=True)
    assert "revoked" in page and "no longer accepts this grant" in page
    assert api_status(app, room) == "needs_reconnect"  # and it stays so, with no new call
    assert hosts.calls(f"{provider}.token") == token_calls + 1
    assert ended_by_provider(app, uid) == [("grant.revoke", "revoked")]


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_one_off_401_refreshes_once_and_the_room_answers(
    app: Flask, hosts: Hosts, provider: str
) -> None:
    uid, gid, room = hosts.hosted_room(provider, "atlas")
    hosts.event(ACCOUNTS[provider], "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.emulator.client.fault(PROVIDER_APIS[provider], status=401)
    token_calls = hosts.calls(f"{provider}.token")
    answer = hosts.query(room)
    assert answer.rooms[room].status == "ok"
    assert busy(answer, room) == [("2026-11-25T09:00:00+00:00", "2026-11-25T10:00:00+00:00")]
    assert hosts.calls(f"{provider}.token") == token_calls + 1
    assert app.extensions["gateway"].grants.get(uid, gid).status == "active"


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_401_that_outlives_a_fresh_token_ends_the_grant(
    app: Flask, hosts: Hosts, provider: str
) -> None:
    uid, gid, room = hosts.hosted_room(provider, "atlas")
    hosts.emulator.client.fault(PROVIDER_APIS[provider], status=401, times=-1)
    assert api_status(app, room) == "needs_reconnect"
    grant = app.extensions["gateway"].grants.get(uid, gid)
    assert (grant.status, "refuses this grant's access tokens" in grant.reason) == (
        "revoked",
        True,
    )


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_403_for_want_of_scope_asks_for_consent_again(
    app: Flask, hosts: Hosts, provider: str
) -> None:
    uid, gid, room = hosts.hosted_room(provider, "atlas")
    hosts.emulator.client.fault(PROVIDER_APIS[provider], error="insufficient_scope", times=-1)
    token_calls = hosts.calls(f"{provider}.token")
    assert hosts.status(room) == "needs_reconnect"
    assert hosts.calls(f"{provider}.token") == token_calls  # more tokens, not more scopes
    grant = app.extensions["gateway"].grants.get(uid, gid)
    assert grant.status == "needs_consent"
    page = hosts.browsers[uid].client.get("/account").get_data(as_text=True)
    assert "needs consent" in page
    assert ended_by_provider(app, uid) == [("grant.needs_consent", "needs_consent")]


@pytest.mark.parametrize("error", ["invalid_grant", "interaction_required"])
def test_msal_refusing_a_refresh_ends_the_grant_and_the_room_needs_reconnect(
    app: Flask, hosts: Hosts, error: str
) -> None:
    """MSAL's invalid_grant (expired, revoked) and interaction_required (MFA, Conditional
    Access) at the token endpoint: the grant is revoked, not left active behind "unknown"."""
    uid, gid, room = hosts.hosted_room("microsoft", "borealis", due_for_refresh=True)
    hosts.emulator.client.fault("microsoft.token", error=error)
    assert api_status(app, room) == "needs_reconnect"
    assert app.extensions["gateway"].grants.get(uid, gid).status == "revoked"


def test_a_grant_revoked_at_google_is_seen_as_such(app: Flask, hosts: Hosts) -> None:
    """The person removes the app at Google: every token of the grant dies at once."""
    uid, gid, room = hosts.hosted_room("google", "atlas")
    client_id = app.extensions["gateway"].signin.connectors["google"].client_id
    hosts.emulator.client.revoke_grant("alice@example.com", client_id, "google")
    assert hosts.status(room) == "needs_reconnect"
    assert app.extensions["gateway"].grants.get(uid, gid).status == "revoked"


# -- no cache outlives its grant, none is keyed by a token (item 12) ---------------------------
def cached_of(app: Flask, gid: str) -> list[Any]:
    """Everything the process's free/busy wiring keeps in memory that names the grant."""
    freebusy = app.extensions["gateway"].freebusy
    found: list[Any] = [k for k in freebusy.composer._published if gid in k[0]]
    found += freebusy.remembered.holding(gid)
    for api in freebusy.apis.values():
        found += [k for k in getattr(api, "_addresses", {}) if k == gid]
    return found


def memory_keys(app: Flask) -> str:
    freebusy = app.extensions["gateway"].freebusy
    keys_seen: list[Any] = [
        *freebusy.composer._published,
        *freebusy.remembered.keys(),
        *freebusy.composer._parsed,
    ]
    for api in freebusy.apis.values():
        keys_seen += list(getattr(api, "_addresses", {}))
    for connector in app.extensions["gateway"].grants.connectors.values():
        keys_seen += list(getattr(connector, "_http_cache", {}))
    return repr(keys_seen)


@pytest.mark.parametrize(
    "end",
    [
        lambda s, uid, gid: s.revocation.revoke_grant(uid, gid, reason="test", actor=uid),
        lambda s, uid, gid: s.privacy.erase(uid, actor=uid),
    ],
    ids=["revocation", "erasure"],
)
def test_no_cache_keeps_anything_of_an_ended_grant(app: Flask, hosts: Hosts, end: Any) -> None:
    carol, gid, room = hosts.hosted_room("microsoft", "borealis")
    hosts.event("carol@contoso.example", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    services = app.extensions["gateway"]
    token = str(services.grants.tokens_if_readable(carol, gid).access_token)
    assert hosts.query(room).rooms[room].busy
    assert cached_of(app, gid)  # the mailbox, the published busy time, the answer
    assert token not in memory_keys(app)

    end(services, carol, gid)

    assert cached_of(app, gid) == []
    assert token not in memory_keys(app)


def test_a_grant_the_provider_ended_leaves_no_cache_either(app: Flask, hosts: Hosts) -> None:
    carol, gid, room = hosts.hosted_room("microsoft", "borealis")
    assert hosts.status(room) == "ok"
    assert cached_of(app, gid)
    hosts.emulator.client.fault("microsoft.getschedule", status=401, times=-1)
    hosts.emulator.client.fault("microsoft.token", error="invalid_grant", times=-1)
    app.extensions["gateway"].freebusy.remembered.clear()  # as after the TTL: ask again
    for entry in app.extensions["gateway"].redis.scan_iter(f"{keys.user_tag(carol)}:fb:*"):
        app.extensions["gateway"].redis.delete(entry)
    assert hosts.status(room) == "needs_reconnect"
    assert cached_of(app, gid) == []

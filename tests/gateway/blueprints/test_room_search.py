"""POST /v1/rooms/search and date exceptions through the API: only rooms bookable and free
for the whole span are offered (never one whose calendar cannot be read), filters by the new
attributes, and exceptions honoured by search and /slots on DST days. Real Redis, the
emulator over HTTPS, real grants and bindings (tests/hosts.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.blueprints.api_models import RoomSearchResponse
from gateway.services.api_clients import ApiClientService
from tests.gateway.services.test_freebusy import PROVIDER_APIS
from tests.hosts import Hosts

ALICE, CAROL = "alice@example.com", "carol@contoso.example"
NINE_TO_TEN = {"timeMin": "2026-11-25T09:00:00Z", "timeMax": "2026-11-25T10:00:00Z"}  # Wed
EVERY_DAY = {
    d: [["09:00", "17:00"]]
    for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


@pytest.fixture
def app(build_gateway: Any, make_env: Any) -> Flask:
    """A short provider deadline keeps the failure cases quick."""
    return build_gateway(make_env(GATEWAY_FREEBUSY_DEADLINE_SECONDS="2"))


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


@pytest.fixture
def secret(app: Flask) -> str:
    """A client of the `frontend` audience (the one tests/hosts.py makes rooms visible to)."""
    found = app.extensions["gateway"]
    return ApiClientService(found.api_clients, found.audit).create("booking", ["frontend"])[1]


def search(client: FlaskClient, secret: str, **body: Any) -> list[str]:
    answer = client.post(
        "/v1/rooms/search", json=body, headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    RoomSearchResponse.model_validate(answer.get_json())
    return [r["id"] for r in answer.get_json()["rooms"]]


def change(app: Flask, room_id: str, **fields: Any) -> None:
    app.extensions["gateway"].rooms.update(room_id, fields, actor="test")


def test_only_rooms_bookable_and_free_for_the_whole_span_are_offered(
    app: Flask, client: FlaskClient, hosts: Hosts, secret: str
) -> None:
    alice, grant = hosts.host("google", ALICE)
    for room_id in ("atlas", "busy", "shut", "short"):
        hosts.room(room_id, alice, grant)
    change(app, "shut", exceptions=[{"date": "2026-11-25", "hours": []}])
    change(app, "short", exceptions=[{"date": "2026-11-25", "hours": [["08:00", "09:30"]]}])
    app.extensions["gateway"].rooms.create(
        {"id": "nobody", "name": "No calendar", "time_zone": "UTC", "hours": EVERY_DAY,
         "visibility": ["frontend"]}
    )  # fmt: skip
    carol, carol_grant = hosts.host("microsoft", CAROL)
    hosts.room("faulty", carol, carol_grant)
    hosts.emulator.client.fault(PROVIDER_APIS["microsoft"], status=401, times=-1)
    hosts.emulator.client.fault("microsoft.token", error="invalid_grant", times=-1)
    # "busy" shares Alice's calendar: make it busy by its own binding being another grant
    bob, bob_grant = hosts.host("google", "bob@example.com")
    app.extensions["gateway"].rooms.update("busy", {"host": bob}, actor="test")
    app.extensions["gateway"].rooms.bind(bob, "busy", bob_grant)
    hosts.emulator.client.add_event(
        "bob@example.com", "2026-11-25T09:45:00Z", "2026-11-25T11:00:00Z"
    )

    assert search(client, secret, **NINE_TO_TEN) == ["atlas"]
    statuses = hosts.query("nobody", "faulty", "busy")
    assert statuses.rooms["nobody"].status != "ok"  # unknown (or unbound): never free
    assert statuses.rooms["faulty"].status == "needs_reconnect"
    assert [i.start.hour for i in statuses.rooms["busy"].busy] == [9]
    # before Bob's event "busy" is free too; outside every room's hours nothing is
    early = {"timeMin": "2026-11-25T08:00:00Z", "timeMax": "2026-11-25T09:00:00Z"}
    assert search(client, secret, **early) == ["atlas", "busy", "short"]
    night = {"timeMin": "2026-11-25T18:00:00Z", "timeMax": "2026-11-25T19:00:00Z"}
    assert search(client, secret, **night) == []


def test_capacity_location_and_equipment_filter_the_free_rooms(
    app: Flask, client: FlaskClient, hosts: Hosts, secret: str
) -> None:
    alice, grant = hosts.host("google", ALICE)
    hosts.room("atlas", alice, grant)
    hosts.room("borealis", alice, grant)
    hosts.room("cosmos", alice, grant)
    change(app, "atlas", capacity=4, location="Ghent, 1st floor", equipment=["projector"])
    change(app, "borealis", capacity=10, location="Brussels", equipment=["Projector", "whiteboard"])
    change(app, "cosmos", location="Ghent harbour")  # no capacity given: fits no capacity filter

    assert search(client, secret, **NINE_TO_TEN) == ["atlas", "borealis", "cosmos"]
    assert search(client, secret, **NINE_TO_TEN, capacity=6) == ["borealis"]
    assert search(client, secret, **NINE_TO_TEN, location="GHENT") == ["atlas", "cosmos"]
    assert search(client, secret, **NINE_TO_TEN, equipment=["projector"]) == ["atlas", "borealis"]
    assert search(client, secret, **NINE_TO_TEN, equipment=["projector", "WHITEBOARD"]) == [
        "borealis"
    ]
    assert search(client, secret, **NINE_TO_TEN, capacity=2, location="ghent") == ["atlas"]
    listed = client.get("/v1/rooms", headers={"Authorization": f"Bearer {secret}"}).get_json()
    borealis = next(r for r in listed["rooms"] if r["id"] == "borealis")
    assert (borealis["capacity"], borealis["equipment"]) == (10, ["Projector", "whiteboard"])


def test_exceptions_on_dst_days_are_honoured_by_search_and_slots(
    app: Flask, client: FlaskClient, hosts: Hosts, secret: str
) -> None:
    alice, grant = hosts.host("google", ALICE)
    # London, Sunday 2026-03-29, clocks go 01:00 GMT -> 02:00 BST: open midnight to noon
    # local, i.e. 00:00-11:00 UTC (eleven hours); no weekly hours on Sundays.
    hosts.room("london", alice, grant, hours={"monday": [["09:00", "17:00"]]}, zone="Europe/London")
    change(app, "london", exceptions=[{"date": "2026-03-29", "hours": [["00:00", "12:00"]]}])
    # New York, Sunday 2026-11-01, clocks go 02:00 EDT -> 01:00 EST: open every day, but
    # closed that day.
    hosts.room("newyork", alice, grant, hours=EVERY_DAY, zone="America/New_York")
    change(app, "newyork", exceptions=[{"date": "2026-11-01", "hours": []}])
    hosts.emulator.client.add_event(ALICE, "2026-03-29T02:00:00Z", "2026-03-29T03:00:00Z")

    def span(start: str, end: str) -> dict[str, str]:
        return {"timeMin": start, "timeMax": end}

    assert search(client, secret, **span("2026-03-29T10:00:00Z", "2026-03-29T11:00:00Z")) == [
        "london"  # 11:00-12:00 BST
    ]
    assert search(client, secret, **span("2026-03-29T11:00:00Z", "2026-03-29T12:00:00Z")) == []
    assert search(client, secret, **span("2026-03-29T02:30:00Z", "2026-03-29T03:30:00Z")) == []
    # 09:00-17:00 New York is 14:00-22:00 UTC on Oct 31 (EDT) and on Nov 2 (EST)
    assert search(client, secret, **span("2026-10-31T20:00:00Z", "2026-10-31T21:00:00Z")) == [
        "newyork"
    ]
    assert search(client, secret, **span("2026-11-01T15:00:00Z", "2026-11-01T16:00:00Z")) == []
    assert search(client, secret, **span("2026-11-02T20:00:00Z", "2026-11-02T21:00:00Z")) == [
        "newyork"
    ]

    slots = client.get(
        "/v1/rooms/london/slots",
        query_string={"from": "2026-03-28T00:00:00Z", "to": "2026-03-30T00:00:00Z", "duration": 30},
        headers={"Authorization": f"Bearer {secret}"},
    ).get_json()
    assert slots["status"] == "ok"
    assert slots["slots"] == [
        {"start": "2026-03-29T00:00:00Z", "end": "2026-03-29T02:00:00Z"},
        {"start": "2026-03-29T03:00:00Z", "end": "2026-03-29T11:00:00Z"},
    ]
    closed = client.get(
        "/v1/rooms/newyork/slots",
        query_string={"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T12:00:00Z", "duration": 30},
        headers={"Authorization": f"Bearer {secret}"},
    ).get_json()
    assert closed["status"] == "ok" and closed["slots"] == []


BAD_BODIES = [
    ({"timeMin": "2026-11-25T10:00:00Z", "timeMax": "2026-11-25T09:00:00Z"}, "after timeMin"),
    ({"timeMin": "2026-11-01T00:00:00Z", "timeMax": "2026-12-15T00:00:00Z"}, "at most 31 days"),
    ({**NINE_TO_TEN, "capacity": "6"}, "capacity"),
    ({**NINE_TO_TEN, "capacity": 0}, "capacity"),
    ({**NINE_TO_TEN, "equipment": "projector"}, "equipment"),
    ({**NINE_TO_TEN, "equipment": ["x" * 41]}, "equipment"),
    ({**NINE_TO_TEN, "rooms": ["atlas"]}, "unknown field 'rooms'"),
    ({"timeMin": "2026-11-25T09:00:00", "timeMax": "2026-11-25T10:00:00Z"}, "RFC 3339"),
    ({"timeMax": "2026-11-25T10:00:00Z"}, "'timeMin' is required"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_a_bad_search_is_a_400_in_the_one_error_shape(
    client: FlaskClient, secret: str, body: dict[str, Any], message: str
) -> None:
    answer = client.post(
        "/v1/rooms/search", json=body, headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 400
    assert set(answer.get_json()) == {"error", "message"}
    assert answer.get_json()["error"] == "invalid_request"
    assert message in answer.get_json()["message"]


def test_search_needs_a_caller_and_a_sessions_csrf_token(client: FlaskClient, sign_in: Any) -> None:
    assert client.post("/v1/rooms/search", json=NINE_TO_TEN).status_code == 401
    sign_in.complete("google", ALICE)
    refused = client.post("/v1/rooms/search", json=NINE_TO_TEN)
    assert refused.status_code == 400 and refused.get_json()["error"] == "csrf_failed"


def test_the_cli_sets_exceptions_capacity_and_equipment(app: Flask) -> None:
    runner = app.test_cli_runner()
    made = runner.invoke(
        args=["rooms", "create", "blue", "--name", "Blue", "--time-zone", "Europe/London",
              "--hours", "mon-fri=09:00-17:00", "--exceptions",
              "2026-12-25=;2026-12-24=08:00-12:00,13:00-14:00", "--capacity", "8",
              "--equipment", "projector, whiteboard"]
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    shown = json.loads(made.output)
    assert shown["exceptions"] == [
        {"date": "2026-12-24", "hours": [["08:00", "12:00"], ["13:00", "14:00"]]},
        {"date": "2026-12-25", "hours": []},
    ]
    assert (shown["capacity"], shown["equipment"]) == (8, ["projector", "whiteboard"])
    cleared = runner.invoke(
        args=["rooms", "update", "blue", "--capacity", "", "--exceptions", "[]"]
    )
    assert cleared.exit_code == 0, cleared.output
    assert (json.loads(cleared.output)["capacity"], json.loads(cleared.output)["exceptions"]) == (
        None,
        [],
    )
    bad = runner.invoke(args=["rooms", "update", "blue", "--exceptions", "2026-02-30="])
    assert bad.exit_code != 0 and "not a date of the calendar" in bad.output
    bad = runner.invoke(args=["rooms", "update", "blue", "--capacity", "many"])
    assert bad.exit_code != 0 and "not a whole number" in bad.output

"""The admin JSON API for rooms: who may call it, CSRF on the session cookie, and its errors."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.services.rooms import RoomService
from tests.gateway.services.test_rooms import ALICE, BOB, give, user, wire_rooms

ROOM = {
    "id": "blue",
    "name": "Blue room",
    "location": "Brussels, 3rd floor",
    "time_zone": "Europe/Brussels",
    "hours": {"monday": [["09:00", "17:00"]]},
    "visibility": ["staff"],
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], emulator: Any) -> dict[str, str]:
    """The shared settings, with Alice (by her stable emulator subject) as an admin."""
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == ALICE)
    return {**gateway_env, "GATEWAY_ADMINS": f"google:{subject}"}


@pytest.fixture(autouse=True)
def service(app: Flask, gateway_env: dict[str, str]) -> RoomService:
    found = app.extensions["gateway"]
    if not found.settings.admins:  # Settings.from_env does not read GATEWAY_ADMINS yet
        admins = frozenset({gateway_env["GATEWAY_ADMINS"]})
        found.settings = replace(found.settings, admins=admins)
        found.signin.is_admin = found.settings.is_admin
    return wire_rooms(app)


def csrf_token(client: FlaskClient) -> str:
    """The form token of the client's session, as a page hands it out."""
    found = TOKEN.search(client.get("/account").get_data(as_text=True))
    assert found, "no CSRF token on the account page"
    return found.group(1)


@pytest.fixture
def admin(sign_in: Any, client: FlaskClient) -> dict[str, str]:
    """Alice, signed in as an admin: the headers her API calls carry."""
    user(sign_in, ALICE)
    return {"X-CSRFToken": csrf_token(client)}


def error_of(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "message"} and body["error"] == code
    return str(body["message"])


def test_an_admin_creates_lists_reads_changes_and_deletes_a_room(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    created = client.post("/v1/admin/rooms", json=ROOM, headers=admin)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.headers["Location"] == "/v1/admin/rooms/blue"
    body = created.get_json()
    assert {k: body[k] for k in ROOM} == ROOM
    assert body["host"] is None and body["bound"] is False
    assert body["created"].endswith("Z") and body["updated"] == body["created"]

    assert client.get("/v1/admin/rooms").get_json()["rooms"] == [body]
    assert client.get("/v1/admin/rooms/blue").get_json() == body

    patched = client.patch(
        "/v1/admin/rooms/blue",
        json={"name": "Big blue", "hours": {"friday": [["13:00", "17:00"]]}},
        headers=admin,
    )
    assert patched.status_code == 200
    assert patched.get_json()["name"] == "Big blue"
    assert patched.get_json()["hours"] == {"friday": [["13:00", "17:00"]]}
    assert patched.get_json()["location"] == ROOM["location"]

    deleted = client.delete("/v1/admin/rooms/blue", headers=admin)
    assert deleted.status_code == 204 and deleted.get_data() == b""
    error_of(client.get("/v1/admin/rooms/blue"), 404, "room_not_found")
    assert client.get("/v1/admin/rooms").get_json() == {"rooms": []}


def test_a_host_is_named_by_user_id_and_the_binding_shows(
    app: Flask, client: FlaskClient, admin: dict[str, str], sign_in: Any, service: RoomService
) -> None:
    alice = client.get("/v1/me").get_json()["id"]
    response = client.post("/v1/admin/rooms", json={**ROOM, "host": alice}, headers=admin)
    assert response.get_json()["host"] == alice
    service.bind(alice, "blue", give(app, sign_in, alice))
    assert client.get("/v1/admin/rooms/blue").get_json()["bound"] is True


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**ROOM, "colour": "blue"}, "unknown field 'colour'"),
        ({**ROOM, "time_zone": "Europe/Atlantis"}, "is not an IANA time zone"),
        ({**ROOM, "hours": {"monday": [["17:00", "09:00"]]}}, "must start before it ends"),
        ({**ROOM, "hours": {"monday": [["09:00", "12:00"], ["10:00", "11:00"]]}}, "overlap"),
        ({**ROOM, "hours": {"monday": "9 to 5"}}, "hours.monday"),
        ({**ROOM, "id": "Blue!"}, "id: must be 1 to 64"),
        ({**ROOM, "host": "nobody-here"}, "no user has the id"),
        ({"name": "No id"}, "'id' is required"),
        (["not", "an", "object"], "send a JSON object"),
    ],
)
def test_bad_input_is_a_400_that_says_what_is_wrong(
    client: FlaskClient, admin: dict[str, str], body: Any, words: str
) -> None:
    message = error_of(
        client.post("/v1/admin/rooms", json=body, headers=admin), 400, "invalid_room"
    )
    assert words in message


def test_a_body_that_is_not_json_is_a_400(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/v1/admin/rooms", data="id=blue", content_type="text/plain", headers=admin
    )
    assert "JSON object" in error_of(response, 400, "invalid_room")


def test_patch_refuses_unknown_fields_and_a_new_id(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    client.post("/v1/admin/rooms", json=ROOM, headers=admin)
    for body, words in (
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"created": "2020-01-01"}, "unknown field 'created'"),
        ({"id": "green"}, "cannot be changed"),
        ({"time_zone": "UTC+2"}, "IANA"),
        ({"name": None}, "name"),
    ):
        response = client.patch("/v1/admin/rooms/blue", json=body, headers=admin)
        assert words in error_of(response, 400, "invalid_room")
    assert client.get("/v1/admin/rooms/blue").get_json()["name"] == ROOM["name"]


def test_unknown_rooms_are_404_and_duplicates_409(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    assert client.post("/v1/admin/rooms", json=ROOM, headers=admin).status_code == 201
    error_of(client.post("/v1/admin/rooms", json=ROOM, headers=admin), 409, "room_exists")
    for response in (
        client.get("/v1/admin/rooms/green"),
        client.patch("/v1/admin/rooms/green", json={"name": "x"}, headers=admin),
        client.delete("/v1/admin/rooms/green", headers=admin),
    ):
        error_of(response, 404, "room_not_found")


def test_without_a_session_the_api_answers_401(client: FlaskClient) -> None:
    for path in ("/v1/admin/rooms", "/v1/admin/rooms/blue"):
        error_of(client.get(path), 401, "unauthorized")


def test_a_signed_in_user_who_is_not_an_admin_gets_403(
    another_browser: Any, service: RoomService
) -> None:
    browser = another_browser()
    user(browser, BOB)
    headers = {"X-CSRFToken": csrf_token(browser.client)}
    error_of(browser.client.get("/v1/admin/rooms"), 403, "forbidden")
    error_of(browser.client.post("/v1/admin/rooms", json=ROOM, headers=headers), 403, "forbidden")
    assert service.all() == []


def test_writes_without_the_csrf_header_are_refused(
    client: FlaskClient, admin: dict[str, str], service: RoomService
) -> None:
    error_of(client.post("/v1/admin/rooms", json=ROOM), 400, "csrf_failed")
    error_of(
        client.post("/v1/admin/rooms", json=ROOM, headers={"X-CSRFToken": "forged"}),
        400,
        "csrf_failed",
    )
    assert service.all() == []
    client.post("/v1/admin/rooms", json=ROOM, headers=admin)
    error_of(client.patch("/v1/admin/rooms/blue", json={"name": "x"}), 400, "csrf_failed")
    error_of(client.delete("/v1/admin/rooms/blue"), 400, "csrf_failed")
    assert service.require("blue").name == ROOM["name"]


def test_exceptions_capacity_and_equipment_are_set_changed_and_refused_through_the_api(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    holidays = [
        {"date": "2026-12-25", "hours": []},
        {"date": "2026-12-24", "hours": [["08:00", "12:00"]]},
    ]
    made = client.post(
        "/v1/admin/rooms",
        json={**ROOM, "exceptions": holidays, "capacity": 8, "equipment": ["projector"]},
        headers=admin,
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.get_json()["exceptions"] == sorted(holidays, key=lambda e: str(e["date"]))
    assert (made.get_json()["capacity"], made.get_json()["equipment"]) == (8, ["projector"])

    patched = client.patch(
        "/v1/admin/rooms/blue", json={"exceptions": [], "capacity": None}, headers=admin
    )
    assert patched.status_code == 200
    assert (patched.get_json()["exceptions"], patched.get_json()["capacity"]) == ([], None)

    for bad, words in [
        ({"exceptions": [{"date": "2026-12-32", "hours": []}]}, "not a date of the calendar"),
        ({"exceptions": [{"date": "2026-12-24", "hours": [["12:00", "08:00"]]}]}, "must start"),
        ({"exceptions": holidays + holidays[:1]}, "2026-12-25 is given twice"),
        ({"exceptions": [{"date": "2026-12-24", "hours": []}] * 367}, "at most 366 items"),
        ({"capacity": -1}, "capacity"),
        ({"equipment": [""]}, "equipment"),
    ]:
        message = error_of(
            client.patch("/v1/admin/rooms/blue", json=bad, headers=admin), 400, "invalid_room"
        )
        assert words in message, (bad, message)

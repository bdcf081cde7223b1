"""The admin JSON API lists the calendars behind a room: opaque grant ids, never a
calendar's id or name."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from gateway.services.rooms import RoomService
from tests.gateway.blueprints import test_admin_rooms as admin_api
from tests.gateway.services.test_rooms import ALICE, BOB, give

# Alice, an admin by her emulator subject, signed in; the room service wired.
gateway_env, service, admin = admin_api.gateway_env, admin_api.service, admin_api.admin


def test_an_admin_reads_the_calendars_behind_a_room(
    app: Flask, client: FlaskClient, admin: dict[str, str], sign_in: Any, service: RoomService
) -> None:
    alice = client.get("/v1/me").get_json()["id"]
    created = client.post("/v1/admin/rooms", json={**admin_api.ROOM, "host": alice}, headers=admin)
    assert created.status_code == 201
    assert client.get("/v1/admin/rooms/blue/calendars").get_json() == {
        "room": "blue",
        "calendars": [],
    }
    own, other = give(app, sign_in, alice), give(app, sign_in, alice, account=BOB)
    service.bind(alice, "blue", own)
    service.add_calendar(alice, "blue", other)

    answer = client.get("/v1/admin/rooms/blue/calendars")
    assert answer.status_code == 200
    shown = answer.get_json()["calendars"]
    assert [(c["provider"], c["grant"], c["grantStatus"]) for c in shown] == [
        ("google", own, "active"),
        ("google", other, "active"),
    ]
    assert "primary" not in answer.get_data(as_text=True) and ALICE not in str(shown)
    assert client.get("/v1/admin/rooms/nope/calendars").status_code == 404

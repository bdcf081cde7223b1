"""The host's pages: connect a calendar to a room, disconnect it, and what they refuse."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.services.rooms import RoomService
from tests.gateway.services.test_rooms import ALICE, BOB, CAROL, give, room, user, wire_rooms

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def service(app: Flask) -> RoomService:
    return wire_rooms(app)


@pytest.fixture
def alice(sign_in: Any) -> str:
    return user(sign_in, ALICE)


def page(client: FlaskClient) -> str:
    response = client.get("/rooms/connect")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def shown_binding(client: FlaskClient, room_id: str = "blue") -> str:
    """The room's "Calendar" line on the page, whitespace collapsed."""
    found = re.search(rf'<dd id="room-{room_id}-binding">(.*?)</dd>', page(client), re.S)
    assert found
    return " ".join(found.group(1).split())


def token(client: FlaskClient) -> str:
    found = TOKEN.search(page(client))
    assert found
    return found.group(1)


def test_the_page_needs_a_session(client: FlaskClient) -> None:
    response = client.get("/rooms/connect")
    assert response.status_code == 401
    assert "text/html" in response.headers["Content-Type"]


def test_a_user_who_hosts_nothing_is_told_so(client: FlaskClient, alice: str) -> None:
    assert 'id="no-rooms"' in page(client)


def test_a_host_connects_the_primary_calendar_and_disconnects_it(
    app: Flask, client: FlaskClient, sign_in: Any, alice: str, service: RoomService
) -> None:
    room(service, host=alice, location="Ghent")
    html = page(client)
    assert (
        "Blue room" in html and "Ghent" in html and "none: the room shows no availability" in html
    )
    assert "first give your consent" in html

    gid = give(app, sign_in, alice)
    html = page(client)
    assert f'id="bind-blue-{gid}"' in html and "Your primary calendar." in html

    response = client.post(
        "/rooms/blue/bind", data={"csrf_token": token(client), "grant": gid, "calendar": "primary"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/rooms/connect"
    found = service.binding("blue")
    assert found is not None and (found.gid, found.calendar_id) == (gid, "primary")
    assert shown_binding(client).startswith("Google, primary calendar (since ")
    assert 'id="unbind-blue"' in page(client)

    response = client.post(
        "/rooms/blue/unbind", data={"csrf_token": token(client), "back": "account"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert service.binding("blue") is None


def test_with_calendar_choice_the_page_lists_calendars_to_pick_from(
    app: Flask, client: FlaskClient, sign_in: Any, alice: str, service: RoomService
) -> None:
    room(service, host=alice)
    gid = give(app, sign_in, alice)
    give(app, sign_in, alice, "calendar-choice")
    html = page(client)
    assert "<select" in html and "Meeting room of Alice Example" in html
    chosen = re.search(r'<option value="([^"]+)">Meeting room of Alice Example', html)
    assert chosen

    client.post(
        "/rooms/blue/bind",
        data={"csrf_token": token(client), "grant": gid, "calendar": chosen.group(1)},
    )
    assert service.bindings_of(alice)[0].calendar == "Meeting room of Alice Example"
    assert shown_binding(client).startswith("Google, Meeting room of Alice Example (since ")


def test_a_microsoft_host_types_a_room_mailbox(
    app: Flask, client: FlaskClient, sign_in: Any, service: RoomService
) -> None:
    carol = user(sign_in, CAROL, "microsoft")
    room(service, host=carol)
    gid = give(app, sign_in, carol, provider="microsoft", account=CAROL)
    give(app, sign_in, carol, "calendar-choice", provider="microsoft", account=CAROL)
    html = page(client)
    assert 'type="email" name="mailbox"' in html

    bad = client.post(
        "/rooms/blue/bind",
        data={"csrf_token": token(client), "grant": gid, "calendar": "@typed", "mailbox": "nope"},
    )
    assert bad.status_code == 400 and "e-mail address" in bad.get_data(as_text=True)
    client.post(
        "/rooms/blue/bind",
        data={
            "csrf_token": token(client),
            "grant": gid,
            "calendar": "@typed",
            "mailbox": "room.blue@contoso.example",
        },
    )
    found = service.binding("blue")
    assert found is not None and found.calendar_id == "room.blue@contoso.example"


def test_the_bind_form_needs_its_csrf_token(
    app: Flask, client: FlaskClient, sign_in: Any, alice: str, service: RoomService
) -> None:
    room(service, host=alice)
    gid = give(app, sign_in, alice)
    for data in ({"grant": gid}, {"grant": gid, "csrf_token": "forged"}):
        response = client.post("/rooms/blue/bind", data=data)
        assert response.status_code == 400
        assert "did not come from this site" in response.get_data(as_text=True)
    assert client.post("/rooms/blue/unbind").status_code == 400
    assert service.binding("blue") is None


def test_a_room_hosted_by_someone_else_or_a_grant_not_yours_is_403(
    app: Flask,
    client: FlaskClient,
    sign_in: Any,
    alice: str,
    another_browser: Any,
    service: RoomService,
) -> None:
    room(service, "blue", host=alice)
    alices = give(app, sign_in, alice)
    browser = another_browser()
    bob = user(browser, BOB)
    room(service, "green", host=bob)
    bobs = give(app, sign_in, bob, account=BOB)

    # Bob, with his own grant, at Alice's room.
    response = browser.client.post(
        "/rooms/blue/bind", data={"csrf_token": token(browser.client), "grant": bobs}
    )
    assert response.status_code == 403
    assert "only the room&#39;s host" in response.get_data(as_text=True)
    # Alice, at her own room, with Bob's grant; and at Bob's room with hers.
    for path, gid in (("/rooms/blue/bind", bobs), ("/rooms/green/bind", alices)):
        response = client.post(path, data={"csrf_token": token(client), "grant": gid})
        assert response.status_code == 403
    response = client.post("/rooms/green/unbind", data={"csrf_token": token(client)})
    assert response.status_code == 403
    assert (
        client.post(
            "/rooms/nowhere/bind", data={"csrf_token": token(client), "grant": alices}
        ).status_code
        == 404
    )
    assert service.binding("blue") is None and service.binding("green") is None

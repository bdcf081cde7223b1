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
        "Blue room" in html
        and "Ghent" in html
        and "none: the room shows “no calendar connected”" in html
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


def test_a_grant_not_yours_is_403_and_a_room_not_yours_is_404(
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

    # Bob, with his own grant, at Alice's room: as if it did not exist.
    response = browser.client.post(
        "/rooms/blue/bind", data={"csrf_token": token(browser.client), "grant": bobs}
    )
    assert response.status_code == 404
    assert "you host no room with this id" in response.get_data(as_text=True)
    # Alice, at her own room, with Bob's grant.
    response = client.post("/rooms/blue/bind", data={"csrf_token": token(client), "grant": bobs})
    assert response.status_code == 403
    assert "not one of yours" in response.get_data(as_text=True)
    # Alice at Bob's room with hers, and unbinding it.
    response = client.post("/rooms/green/bind", data={"csrf_token": token(client), "grant": alices})
    assert response.status_code == 404
    response = client.post("/rooms/green/unbind", data={"csrf_token": token(client)})
    assert response.status_code == 404
    assert service.binding("blue") is None and service.binding("green") is None


def _seen(response: Any) -> tuple[Any, ...]:
    """Everything of a response a member can observe that could depend on the room."""
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in ("date", "x-request-id", "traceresponse", "set-cookie")
    }
    # The page's CSRF token is signed with the current second: the same for any room.
    body = TOKEN.sub('name="csrf_token" value="…"', response.get_data(as_text=True))
    return response.status_code, headers, body


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_another_hosts_room_answers_exactly_as_a_room_that_does_not_exist(
    app: Flask,
    client: FlaskClient,
    sign_in: Any,
    alice: str,
    another_browser: Any,
    service: RoomService,
    accept: str,
) -> None:
    """No oracle: a member cannot tell whether a room id exists by trying to bind it."""
    alices = give(app, sign_in, alice)
    room(service, "green", host=user(another_browser(), BOB))
    room(service, "free0")  # a room nobody hosts is not the member's either

    for action, data in (("bind", {"grant": alices}), ("unbind", {"back": "account"})):
        seen = {
            room_id: _seen(
                client.post(
                    f"/rooms/{room_id}/{action}",
                    data={"csrf_token": token(client), **data},
                    headers={"Accept": accept},
                )
            )
            for room_id in ("green", "free0", "nope0")
        }
        assert seen["green"][0] == 404, seen["green"]
        assert seen["green"] == seen["free0"] == seen["nope0"], action
    assert service.binding("green") is None and service.binding("free0") is None


# -- several calendars behind one room --------------------------------------------------------
def test_a_host_adds_a_calendar_of_another_account_and_removes_one(
    app: Flask, client: FlaskClient, sign_in: Any, alice: str, service: RoomService
) -> None:
    room(service, host=alice)
    own = give(app, sign_in, alice)
    other = give(app, sign_in, alice, account=BOB)  # a second Google account of alice's
    client.post("/rooms/blue/bind", data={"csrf_token": token(client), "grant": own})
    html = page(client)
    assert f'id="add-blue-{other}"' in html and f'id="bind-blue-{other}"' not in html

    added = client.post("/rooms/blue/calendars", data={"csrf_token": token(client), "grant": other})
    assert added.status_code == 303 and added.headers["Location"] == "/rooms/connect"
    assert sorted(b.gid for b in service.bindings("blue")) == sorted([own, other])
    assert shown_binding(client).count("Google, primary calendar (since ") == 2
    html = page(client)
    assert 'id="remove-blue-2"' in html and "Disconnect every calendar from Blue room" in html

    versions = re.findall(r'name="version" value="([^"]+)"', html)
    assert len(versions) == 2
    removed = client.post(
        "/rooms/blue/calendars/remove", data={"csrf_token": token(client), "version": versions[0]}
    )
    assert removed.status_code == 303
    assert [b.gid for b in service.bindings("blue")] == [other]
    again = client.post(
        "/rooms/blue/calendars/remove", data={"csrf_token": token(client), "version": versions[0]}
    )
    assert again.status_code == 303 and [b.gid for b in service.bindings("blue")] == [other]


def test_a_sixth_calendar_is_refused_with_a_clear_message(
    app: Flask, client: FlaskClient, sign_in: Any, service: RoomService
) -> None:
    carol = user(sign_in, CAROL, "microsoft")
    room(service, host=carol)
    gid = give(app, sign_in, carol, provider="microsoft", account=CAROL)
    give(app, sign_in, carol, "calendar-choice", provider="microsoft", account=CAROL)
    service.bind(carol, "blue", gid)
    for name in ("one", "two", "three", "four"):
        service.add_calendar(carol, "blue", gid, f"room.{name}@contoso.example")
    html = page(client)
    assert 'id="full-blue"' in html and f'id="add-blue-{gid}"' not in html

    refused = client.post(
        "/rooms/blue/calendars",
        data={
            "csrf_token": token(client),
            "grant": gid,
            "calendar": "@typed",
            "mailbox": "room.six@contoso.example",
        },
    )
    assert refused.status_code == 409
    assert "at most 5 calendars" in refused.get_data(as_text=True)
    assert len(service.bindings_of(carol)) == 5

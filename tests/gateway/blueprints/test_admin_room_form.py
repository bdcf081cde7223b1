"""Rooms created, edited and deleted by an admin through the browser form: only admins, the
CSRF token on every POST, a mistake shown at its field with what was typed kept and nothing
saved, markup in a name shown as text, and a delete that asks first."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from gateway.services.room_model import WEEKDAYS
from tests.gateway.blueprints.admin_pages import (
    XSS,
    alice,
    bob,
    csrf_token,
    element,
    gateway_env,
    services_of,
    text_of,
)

__all__ = ["alice", "bob", "gateway_env"]  # the fixtures these tests use


def filled(token: str, **changes: Any) -> MultiDict[str, str]:
    """The room form as an admin fills it in: a Brussels room closed on Christmas."""
    fields: dict[str, Any] = {
        "csrf_token": token,
        "name": "Atlas",
        "id": "",
        "location": "Brussels, 3rd floor",
        "time_zone": "Europe/Brussels",
        "capacity": "8",
        "equipment": "projector, whiteboard",
        "visibility": ["members"],
        "visibility_other": "",
        "host": "",
        **{f"hours_{day}": "" for day in WEEKDAYS},
        "hours_monday": "08:00-12:00, 13:00-18:00",
        "hours_tuesday": "9:00 - 17:30",
        "exception_date": ["2026-12-25", "2026-12-24", ""],
        "exception_hours": ["", "08:00-12:00", ""],
    }
    fields.update(changes)
    return MultiDict(
        [
            (k, v)
            for k, values in fields.items()
            for v in (values if isinstance(values, list) else [values])
        ]
    )


def stored(app: Flask, room_id: str = "atlas") -> Any:
    return services_of(app).rooms.get(room_id)


# -- who may ----------------------------------------------------------------------------------
def test_without_a_session_the_form_is_401(app: Flask) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/admin/rooms/new").status_code == 401
    app.config["WTF_CSRF_ENABLED"] = False  # reach the guard itself, behind the CSRF check
    assert anonymous.post("/admin/rooms/new", data=filled("")).status_code == 401
    assert stored(app) is None


def test_a_member_who_is_not_an_admin_gets_403_and_creates_nothing(
    app: Flask, alice: tuple[FlaskClient, str]
) -> None:
    browser, _ = alice
    services_of(app).rooms.create({"id": "borealis", "name": "B", "time_zone": "UTC"})
    token = csrf_token(browser)
    for path in ("/admin/rooms/new", "/admin/rooms/borealis/edit", "/admin/rooms/borealis/delete"):
        assert browser.get(path).status_code == 403, path
    for path in ("/admin/rooms/new", "/admin/rooms/borealis/edit", "/admin/rooms/borealis/delete"):
        refused = browser.post(path, data=filled(token))
        assert refused.status_code == 403, path
    assert stored(app) is None and stored(app, "borealis").name == "B"


@pytest.mark.parametrize("token", [None, "forged"])
def test_every_post_needs_the_csrf_token(
    app: Flask, client: FlaskClient, bob: str, token: str | None
) -> None:
    services_of(app).rooms.create({"id": "borealis", "name": "B", "time_zone": "UTC"})
    for path in ("/admin/rooms/new", "/admin/rooms/borealis/edit", "/admin/rooms/borealis/delete"):
        form = filled(token or "")
        if token is None:
            del form["csrf_token"]
        refused = client.post(path, data=form)
        assert refused.status_code == 400, path
        assert "did not come from this site" in text_of(refused)
    assert stored(app) is None and stored(app, "borealis").name == "B"


# -- creating ---------------------------------------------------------------------------------
def test_an_admin_creates_a_room_with_hours_a_holiday_and_a_host_picked_by_name(
    app: Flask, client: FlaskClient, bob: str, alice: tuple[FlaskClient, str]
) -> None:
    _, alice_id = alice
    form = text_of(client.get("/admin/rooms/new"))
    assert '<option value="Europe/Brussels">' in form  # the time zone picker
    assert f'<option value="{alice_id}">Alice Example &lt;alice@example.com&gt;</option>' in form
    assert "every person signed in to the gateway" in form  # the audience in words

    created = client.post("/admin/rooms/new", data=filled(csrf_token(client), host=alice_id))
    assert created.status_code == 303, text_of(created)
    assert created.headers["Location"] == "/admin/rooms/atlas?done=room-created"
    room = stored(app)
    assert room.name == "Atlas" and room.location == "Brussels, 3rd floor"
    assert room.time_zone == "Europe/Brussels" and room.capacity == 8
    assert room.hours == {
        "monday": [["08:00", "12:00"], ["13:00", "18:00"]],
        "tuesday": [["09:00", "17:30"]],
    }
    assert [(e.date, e.hours) for e in room.exceptions] == [
        ("2026-12-24", [["08:00", "12:00"]]),
        ("2026-12-25", []),
    ]
    assert room.equipment == ["projector", "whiteboard"]
    assert room.visibility == ["members"] and room.host == alice_id
    shown = text_of(client.get(created.headers["Location"]))
    assert "Room created." in shown and "2026-12-25 closed" in element(shown, "room-exceptions")
    trail = services_of(app).audit
    assert [e.action for e in trail.entries(subject=alice_id, action="room.create")] == [
        "room.create"
    ]


def test_a_room_visible_to_nobody_else_and_to_an_api_group(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    services_of(app).clients.create("Signage", audiences=["lobby"])
    form = text_of(client.get("/admin/rooms/new"))
    assert 'value="lobby"' in form and "the API clients in this group" in form
    token = csrf_token(client)
    client.post("/admin/rooms/new", data=filled(token, visibility=[]))
    assert stored(app).visibility == []
    client.post(
        "/admin/rooms/new",
        data=filled(token, id="b", visibility=["lobby"], visibility_other="kiosk, hall"),
    )
    assert stored(app, "b").visibility == ["hall", "kiosk", "lobby"]


BAD_INPUT = [
    ({"hours_monday": "18:00-08:00"}, "hours_monday", "must start before it ends"),
    ({"hours_monday": "9-5"}, "hours_monday", "write each range as 09:00-17:00"),
    ({"hours_friday": "08:00-12:00, 11:00-13:00"}, "hours_friday", "overlap"),
    ({"hours_sunday": "25:00-26:00"}, "hours_sunday", "not a time of day"),
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Pick a time zone from the list"),
    ({"time_zone": ""}, "time_zone", "Pick a time zone from the list"),
    ({"name": ""}, "name", "Give the room a name."),
    ({"name": "A" * 201}, "name", "Keep the name under 200"),
    ({"location": "L" * 201}, "location", "Keep the location under 200"),
    ({"id": "Not A Slug!"}, "id", "lower-case letters, digits or hyphens"),
    ({"capacity": "0"}, "capacity", "whole number from 1 to 100000"),
    ({"capacity": "lots"}, "capacity", "whole number from 1 to 100000"),
    ({"equipment": "x" * 41}, "equipment", "at most 40 characters"),
    ({"exception_date": ["2026-02-30"], "exception_hours": [""]}, "exceptions", "not a date"),
    ({"exception_date": ["25/12/2026"], "exception_hours": [""]}, "exceptions", "not a date"),
    (
        {"exception_date": ["2026-12-25", "2026-12-25"], "exception_hours": ["", ""]},
        "exceptions",
        "given twice",
    ),
    ({"exception_date": ["2026-12-24"], "exception_hours": ["noon"]}, "exceptions", "09:00-17:00"),
    ({"visibility_other": "no spaces please"}, "visibility", "An audience is a group name"),
    ({"host": "../../etc"}, "host", "Pick the host from the list."),
    ({"host": "nobody-has-this-id"}, "host", "no user has the id"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_INPUT)
def test_a_mistake_is_shown_at_its_field_with_the_values_kept_and_nothing_saved(
    app: Flask, client: FlaskClient, bob: str, changes: dict[str, Any], field: str, message: str
) -> None:
    refused = client.post("/admin/rooms/new", data=filled(csrf_token(client), **changes))
    assert refused.status_code == 400
    page = text_of(refused)
    assert message in element(page, f"error-{field}")
    assert "Nothing was saved." in element(page, "form-errors")
    assert 'value="Brussels, 3rd floor"' in page or field == "location"  # kept as typed
    assert 'value="08:00-12:00, 13:00-18:00"' in page or field == "hours_monday"
    assert 'value="2026-12-25"' in page or field == "exceptions"
    assert services_of(app).rooms.all() == []


def test_an_existing_id_is_refused_on_the_form(app: Flask, client: FlaskClient, bob: str) -> None:
    services_of(app).rooms.create({"id": "atlas", "name": "The first", "time_zone": "UTC"})
    refused = client.post("/admin/rooms/new", data=filled(csrf_token(client)))
    assert refused.status_code == 400
    assert "exists already" in element(text_of(refused), "form-errors")
    assert stored(app).name == "The first"


def test_markup_in_a_name_is_stored_as_typed_and_shown_as_text(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    created = client.post(
        "/admin/rooms/new", data=filled(csrf_token(client), id="x", name=XSS, location=XSS)
    )
    assert created.status_code == 303
    assert stored(app, "x").name == XSS
    for path in ("/admin/rooms", "/admin/rooms/x", "/admin/rooms/x/edit", "/admin/rooms/x/delete"):
        page = text_of(client.get(path))
        assert XSS not in page and "&lt;script&gt;" in page, path
    refused = client.post(
        "/admin/rooms/new", data=filled(csrf_token(client), id="y", name=XSS, time_zone=XSS)
    )
    assert XSS not in text_of(refused) and "&lt;script&gt;" in text_of(refused)


def test_overlong_fields_are_cut_before_they_are_read(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    refused = client.post(
        "/admin/rooms/new", data=filled(csrf_token(client), hours_monday="08:00-09:00, " * 5000)
    )
    assert refused.status_code in (400, 413)
    assert services_of(app).rooms.all() == []


# -- editing and deleting ---------------------------------------------------------------------
def test_the_edit_form_shows_the_room_and_saves_a_change(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    token = csrf_token(client)
    client.post("/admin/rooms/new", data=filled(token))
    form = text_of(client.get("/admin/rooms/atlas/edit"))
    assert 'value="08:00-12:00, 13:00-18:00"' in form and 'value="2026-12-24"' in form
    assert 'value="closed"' in form  # Christmas, closed
    assert 'name="id"' not in form  # an id is never changed

    saved = client.post(
        "/admin/rooms/atlas/edit",
        data=filled(token, name="Atlas (renovated)", exception_date=[], exception_hours=[]),
    )
    assert saved.status_code == 303 and saved.headers["Location"].endswith("done=room-saved")
    room = stored(app)
    assert room.name == "Atlas (renovated)" and room.exceptions == []

    refused = client.post("/admin/rooms/atlas/edit", data=filled(token, hours_monday="late"))
    assert refused.status_code == 400 and stored(app).hours["monday"] == [
        ["08:00", "12:00"],
        ["13:00", "18:00"],
    ]
    assert client.get("/admin/rooms/nope/edit").status_code == 404
    assert client.post("/admin/rooms/nope/edit", data=filled(token)).status_code == 404


def test_deleting_asks_first_then_deletes(app: Flask, client: FlaskClient, bob: str) -> None:
    token = csrf_token(client)
    client.post("/admin/rooms/new", data=filled(token))
    asked = text_of(client.get("/admin/rooms/atlas/delete"))
    assert "Delete the room Atlas?" in asked and 'id="delete-room"' in asked
    assert stored(app) is not None  # asking deleted nothing
    done = client.post("/admin/rooms/atlas/delete", data={"csrf_token": token})
    assert done.status_code == 303
    assert stored(app) is None
    assert "Room deleted" in text_of(client.get(done.headers["Location"]))
    assert client.get("/admin/rooms/atlas/delete").status_code == 404
    assert client.post("/admin/rooms/atlas/delete", data={"csrf_token": token}).status_code == 404


def test_a_host_whose_name_cannot_be_read_stays_the_host_when_the_room_is_saved(
    app: Flask, client: FlaskClient, bob: str, alice: tuple[FlaskClient, str]
) -> None:
    _, alice_id = alice
    token = csrf_token(client)
    client.post("/admin/rooms/new", data=filled(token, host=alice_id))
    services_of(app).redis.hset(f"gw:{{u:{alice_id}}}:profile", "sealed", "no longer opens")
    form = text_of(client.get("/admin/rooms/atlas/edit"))
    assert f'<option value="{alice_id}" selected>The current host' in form
    assert "Alice Example" not in form
    options = element(form, "host").count("<option")
    saved = client.post(
        "/admin/rooms/atlas/edit", data=filled(token, name="Atlas 2", host=alice_id)
    )
    assert saved.status_code == 303 and options == 3  # none, the current host, Bob
    assert stored(app).host == alice_id and stored(app).name == "Atlas 2"


def test_the_host_picker_is_narrowed_by_a_search_and_audits_only_who_it_shows(
    app: Flask, client: FlaskClient, bob: str, alice: tuple[FlaskClient, str]
) -> None:
    _, alice_id = alice
    audit = services_of(app).audit
    listed = len(audit.entries(subject=alice_id, action="user.list"))
    found = text_of(client.get("/admin/rooms/new", query_string={"host_q": "ALICE"}))
    assert 'form="host-search"' in found and 'id="host-search"' in found  # a plain GET form
    assert 'value="ALICE"' in found
    assert element(found, "host").count("<option") == 2  # none, Alice
    assert f'<option value="{alice_id}">Alice Example' in found
    assert len(audit.entries(subject=alice_id, action="user.list")) == listed + 1
    bob_shown = len(audit.entries(subject=bob, action="user.list"))
    nobody = text_of(client.get("/admin/rooms/new", query_string={"host_q": "nobody"}))
    assert "Nobody matches" in element(nobody, "host-none-found")
    assert element(nobody, "host").count("<option") == 1
    assert len(audit.entries(subject=bob, action="user.list")) == bob_shown  # not shown
    too_long = client.get("/admin/rooms/new", query_string={"host_q": "x" * 101})
    assert too_long.status_code == 400 and "Keep the search under 100" in text_of(too_long)

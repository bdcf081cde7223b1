"""A CalDAV host picks which of their calendars backs a room (the app password opens the
whole account, so the room-availability grant itself lists them), and can back one room
by two of them; against a real Radicale over TLS."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.connectors.radicale_server import Radicale, seed, vcalendar
from tests.gateway import test_caldav_consent as dav
from tests.hosts import OFFICE_HOURS

STAMP = "DTSTAMP:20261101T000000Z"
# The CalDAV suite's fixtures: a CA, a Radicale over TLS, a gateway that trusts it, a host.
ca, radicale, caldav_app, host = dav.ca, dav.radicale, dav.caldav_app, dav.host
connect, room_answer = dav.connect, dav.room_answer


def event(uid: str, start: str, end: str) -> str:
    return vcalendar(
        f"UID:{uid}\r\n{STAMP}\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:Private {uid}"
    )


def test_a_caldav_host_picks_a_calendar_from_the_list_and_adds_another(
    caldav_app: Flask, host: tuple[FlaskClient, str], radicale: Radicale
) -> None:
    hours = {"Personal": (8, 9), "Meeting room": (14, 15)}
    urls = {
        name: seed(
            radicale,
            "alice",
            name,
            [event(name[0], f"20261125T{start:02}0000Z", f"20261125T{end:02}0000Z")],
        )
        for name, (start, end) in hours.items()
    }
    client, uid = host
    assert connect(client, radicale).status_code == 303
    services = caldav_app.extensions["gateway"]
    (grant,) = services.grants.list(uid)
    rooms = services.rooms
    rooms.create(
        {
            "id": "dav",
            "name": "DAV room",
            "time_zone": "UTC",
            "hours": OFFICE_HOURS,
            "host": uid,
            "visibility": ["frontend"],
        }
    )

    (choice,) = rooms.grant_choices(uid)
    assert choice.grant_id == grant.id and choice.problem is None
    (listed,) = choice.calendars  # the one besides the primary (the first found at connect)
    assert listed.name in hours
    page = client.get("/rooms/connect").get_data(as_text=True)
    assert re.search(rf'<option value="[^"]+">{listed.name}</option>', page)

    view = rooms.bind(uid, "dav", grant.id, listed.id)
    assert (view.calendar, view.primary) == (listed.name, False)
    bound = rooms.binding("dav")
    assert bound is not None and bound.calendar_id.rstrip("/") == urls[listed.name].rstrip("/")
    found = room_answer(caldav_app, "dav")
    assert found.status == "ok"
    assert [(b.start.hour, b.end.hour) for b in found.busy] == [hours[listed.name]]

    rooms.add_calendar(uid, "dav", grant.id)  # and the primary one: one room, two calendars
    found = room_answer(caldav_app, "dav")
    assert [(b.start.hour, b.end.hour) for b in found.busy] == [(8, 9), (14, 15)]
    assert "Private" not in repr(found)


def test_a_calendar_not_in_the_list_is_refused(
    caldav_app: Flask, host: tuple[FlaskClient, str], radicale: Radicale
) -> None:
    seed(radicale, "alice", "Personal", [])
    client, uid = host
    assert connect(client, radicale).status_code == 303
    services: Any = caldav_app.extensions["gateway"]
    (grant,) = services.grants.list(uid)
    services.rooms.create({"id": "dav", "name": "DAV", "time_zone": "UTC", "host": uid})
    refused = client.post(
        "/rooms/dav/bind",
        data={
            "csrf_token": re.search(  # type: ignore[union-attr]
                r'name="csrf_token" value="([^"]+)"', client.get("/rooms/connect").get_data(True)
            ).group(1),
            "grant": grant.id,
            "calendar": "https://elsewhere.example/cal/",
        },
    )
    assert refused.status_code == 400 and "not in your calendar list" in refused.get_data(True)
    assert services.rooms.binding("dav") is None

"""The room finder pages: week and day views in the room's zone or the viewer's, drawn to
scale (DST days are 23 or 25 hours wide), date exceptions shown closed, filters, the "free
for the next N minutes" badge and "find a room free from T for D minutes"."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.services.room_status import RESTRICTED, UNKNOWN, WORDS
from tests.hosts import Hosts

ALICE, BOB = "alice@example.com", "bob@example.com"
ALL_DAY = {
    d: [["00:00", "24:00"]]
    for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


@pytest.fixture
def member(app: Flask, hosts: Hosts, another_browser: Any) -> FlaskClient:
    """Bob, a member, signed in; Alice hosts 'atlas' (London, Mon-Thu 08-18, closed on
    Thursday 26 November by an exception) with an event on Wednesday 25th 09:00-10:30."""
    alice, grant = hosts.host("google", ALICE)
    hosts.room("atlas", alice, grant, zone="Europe/London")
    app.extensions["gateway"].rooms.update(
        "atlas",
        {
            "visibility": ["members"],
            "capacity": 6,
            "location": "London, 2nd floor",
            "equipment": ["projector"],
            "exceptions": [{"date": "2026-11-26", "hours": []}],
        },
        actor="test",
    )
    hosts.event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:30:00Z")
    browser = another_browser()
    browser.complete("google", BOB)
    return browser.client  # type: ignore[no-any-return]


def html(client: FlaskClient, path: str, status: int = 200) -> str:
    answer = client.get(path, headers={"Accept": "text/html"})
    assert answer.status_code == status, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


def section(page: str, element_id: str) -> str:
    """The page from the element's id to the next day or room (or the end of the page)."""
    found = re.search(rf'id="{element_id}"(.*?)(?=id="day-|id="availability-|</main>)', page, re.S)
    assert found, element_id
    return " ".join(found.group(1).split())


def test_the_week_view_shades_hours_draws_busy_to_scale_and_lists_free_slots(
    member: FlaskClient,
) -> None:
    page = html(member, "/rooms/atlas/availability?date=2026-11-25")
    days = re.findall(r'<li class="day[^"]*" id="day-([\d-]+)"', page)
    assert days == [f"2026-11-{d}" for d in range(23, 30)]  # Monday to Sunday
    wednesday = section(page, "day-2026-11-25")
    assert "Bookable 08:00\u201318:00" in wednesday
    assert "busy 09:00\u201310:30" in wednesday
    assert "free 08:00\u201309:00" in wednesday and "free 10:30\u201318:00" in wednesday
    # to scale: a 1440-minute day, busy from minute 540 for 90 minutes
    assert 'viewBox="0 0 1440.0 20"' in wednesday
    assert '<rect class="busy" x="540.0" y="3" width="90.0"' in wednesday
    assert '<rect class="bookable" x="480.0" y="0" width="600.0"' in wednesday
    assert "Closed on this date (an exception to the weekly hours)" in section(
        page, "day-2026-11-26"
    )
    assert "Closed." in section(page, "day-2026-11-29")  # Sunday: no weekly hours
    assert 'id="switch-view"' in page and "Previous week" in page and "Next week" in page


def test_the_viewer_may_switch_to_their_own_time_zone(member: FlaskClient) -> None:
    page = html(member, "/rooms/atlas/availability?date=2026-11-25&view=day&tz=America/New_York")
    assert "Times in <strong>America/New_York</strong>" in page
    assert 'href="/rooms/atlas/availability?date=2026-11-25&amp;view=day" id="room-zone"' in page
    day = section(page, "day-2026-11-25")
    assert "Bookable 03:00\u201313:00" in day and "busy 04:00\u201305:30" in day
    # Thursday London is closed all day, so New York's Wednesday evening is too
    assert "Bookable" in day and "19:00" not in day


def test_dst_days_are_drawn_23_and_25_hours_wide(
    app: Flask, member: FlaskClient, hosts: Hosts
) -> None:
    rooms = app.extensions["gateway"].rooms
    rooms.update("atlas", {"hours": ALL_DAY, "exceptions": []}, actor="test")
    spring = html(member, "/rooms/atlas/availability?date=2026-03-29&view=day")
    assert 'viewBox="0 0 1380.0 20"' in spring and "Bookable 00:00\u201324:00" in spring
    autumn = html(member, "/rooms/atlas/availability?date=2026-11-01&view=day&tz=America/New_York")
    assert 'viewBox="0 0 1500.0 20"' in autumn
    # on the day view of the London spring day, the 06:00 tick is 5 hours after midnight
    assert '<line class="tick" x1="300.0"' in spring


def test_the_rooms_page_filters_and_finds_a_room_free_from_a_time(
    app: Flask, member: FlaskClient
) -> None:
    rooms = app.extensions["gateway"].rooms
    rooms.create(
        {"id": "lobby", "name": "Lobby", "time_zone": "Europe/London", "hours": ALL_DAY,
         "visibility": ["members"], "capacity": 20, "location": "Ground floor"}
    )  # fmt: skip
    page = html(member, "/rooms?day=2026-11-25")
    assert "busy 09:00\u201310:30" in section(page, "availability-atlas")
    # open at every hour, so whenever this runs its badge is about the calendar: none connected
    assert "Now: no calendar connected" in section(page, "availability-lobby")
    assert 'id="availability-atlas"' not in html(member, "/rooms?day=2026-11-25&capacity=10")
    assert 'id="availability-lobby"' not in html(member, "/rooms?equipment=PROJECTOR")
    assert 'id="availability-lobby"' in html(member, "/rooms?location=ground")
    assert 'id="no-match"' in html(member, "/rooms?location=basement")

    found = html(member, "/rooms?from_day=2026-11-25&from_time=10:30&duration=60")
    assert 'id="found-atlas"' in found and 'id="found-lobby"' not in found  # lobby: unknown
    taken = html(member, "/rooms?from_day=2026-11-25&from_time=10:00&duration=60")
    assert 'id="none-found"' in taken
    closed = html(member, "/rooms?from_day=2026-11-26&from_time=10:00&duration=60")
    assert 'id="none-found"' in closed  # the exception closes Thursday
    # T is read in the chosen zone: 05:30 in New York is 10:30 in London
    shifted = html(member, "/rooms?tz=America/New_York&from_day=2026-11-25&from_time=05:30")
    assert 'id="found-atlas"' in shifted


def test_a_room_not_read_says_why_in_the_words_every_page_uses(
    app: Flask, member: FlaskClient
) -> None:
    gateway = app.extensions["gateway"]
    host = gateway.rooms.get("atlas").host
    gateway.privacy.restrict(host, True, actor=host)  # the host pauses processing
    day = section(
        html(member, "/rooms/atlas/availability?date=2026-11-25&view=day"), "day-2026-11-25"
    )
    label, meaning = WORDS[RESTRICTED]
    assert f"{label}</strong>, never shown as free. {meaning}" in day
    assert "busy 09:00" not in day and "free 08:00" not in day


def test_a_day_read_is_drawn_while_days_not_read_say_why(
    app: Flask, hosts: Hosts, member: FlaskClient
) -> None:
    """Wednesday is cached (its day view was shown); the provider fails for the rest of
    the week: the week view draws Wednesday and says the other bookable days are unknown."""
    assert "busy 09:00" in html(member, "/rooms/atlas/availability?date=2026-11-25&view=day")
    hosts.emulator.client.fault("google.freebusy", status=500, times=-1)

    page = html(member, "/rooms/atlas/availability?date=2026-11-25")

    wednesday = section(page, "day-2026-11-25")
    assert "busy 09:00\u201310:30" in wednesday and "free 10:30\u201318:00" in wednesday
    label, meaning = WORDS[UNKNOWN]
    for day in ("2026-11-23", "2026-11-24"):  # bookable Monday and Tuesday, not read
        text = section(page, f"day-{day}")
        assert f"{label}</strong>, never shown as free. {meaning}" in text
        assert "<li>free" not in text and "<li>busy" not in text


def test_the_badge_says_free_for_the_next_minutes_only_when_it_is(
    app: Flask, member: FlaskClient
) -> None:
    rooms = app.extensions["gateway"].rooms
    rooms.update("atlas", {"hours": ALL_DAY, "exceptions": []}, actor="test")  # always open
    rooms.create(
        {"id": "shut", "name": "Shut", "time_zone": "UTC", "visibility": ["members"]}
    )  # never open
    page = html(member, "/rooms?minutes=60")
    assert "Now: free for the next 60 min" in section(page, "availability-atlas")
    assert "Now: not bookable for all of the next 60 min" in section(page, "availability-shut")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/rooms?day=2026-02-30", 400),
        ("/rooms?day=0001-01-01", 400),
        ("/rooms?tz=Mars/Olympus", 400),
        ("/rooms?minutes=7", 400),
        ("/rooms?capacity=lots", 400),
        ("/rooms?from_day=2026-11-25", 400),
        ("/rooms?from_day=2026-11-25&from_time=25:00", 400),
        ("/rooms/atlas/availability?view=month", 400),
        ("/rooms/atlas/availability?date=9999-12-30", 400),
        ("/rooms/atlas/availability?date=1970-01-02", 400),  # its week starts in 1969
        ("/rooms/nowhere/availability", 404),
        ("/rooms/Bad%20Id/availability", 404),
    ],
)
def test_bad_parameters_are_a_friendly_4xx(member: FlaskClient, path: str, status: int) -> None:
    page = html(member, path, status)
    assert "Traceback" not in page


def test_a_room_the_member_may_not_see_looks_like_no_room(app: Flask, member: FlaskClient) -> None:
    app.extensions["gateway"].rooms.create(
        {"id": "boardroom", "name": "Board", "time_zone": "UTC", "visibility": ["board"]}
    )
    hidden = html(member, "/rooms/boardroom/availability", 404)
    missing = html(member, "/rooms/nowhere/availability", 404)
    assert hidden == missing
    assert 'id="availability-boardroom"' not in html(member, "/rooms")


def test_the_pages_need_a_session(client: FlaskClient) -> None:
    assert client.get("/rooms", headers={"Accept": "text/html"}).status_code == 401
    assert client.get("/rooms/atlas/availability").status_code == 401


EDGE_ZONES = ("Pacific/Kiritimati", "Etc/GMT+12", "Europe/London", "America/Santiago", "UTC")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    day=(st.dates() | st.dates(date(1970, 1, 1), date(9998, 12, 31))).map(lambda d: d.isoformat()),
    zone=st.sampled_from(EDGE_ZONES),
    view=st.sampled_from(("day", "week")),
)
@example(day="9998-12-31", zone="Pacific/Kiritimati", view="week")
@example(day="1970-01-05", zone="Etc/GMT+12", view="week")
def test_the_finder_answers_any_date_and_zone_without_a_500(
    member: FlaskClient, day: str, zone: str, view: str
) -> None:
    for path in (
        f"/rooms/atlas/availability?date={day}&tz={zone}&view={view}",
        f"/rooms?day={day}&tz={zone}&from_day={day}&from_time=23:59&duration=240",
    ):
        answer = member.get(path, headers={"Accept": "text/html"})
        assert answer.status_code in (200, 400), answer.get_data(as_text=True)[:300]

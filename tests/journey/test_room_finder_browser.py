"""A member finds a room in headless Chromium, by keyboard, at desktop and phone width.

A host (emulated Google) has consented and bound two rooms; one is closed on a holiday by a
date exception. The member opens the week view, switches to their own time zone, finds a
room free from 10:30 for an hour, and sees the holiday closed. Screenshots of every step at
1280 and 390 px go to test-artifacts/room-finder/; at 390 px nothing is wider than the screen,
and axe-core finds no serious or critical violation on any of them (checked at 1280 px).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_support import WIDTHS, Screenshots, share_free_busy, signed_in

pytestmark = pytest.mark.browser

shot = Screenshots("room-finder")
HOST, MEMBER = "alice@example.com", "bob@example.com"
WEEKDAYS = {d: [["08:00", "18:00"]] for d in ("monday", "tuesday", "wednesday", "thursday")}


@pytest.fixture
def live(live_gateway_at: Any, chromium: Any, emulator: Any) -> tuple[str, Any]:
    """The gateway with Alice's rooms bound to her consented calendar."""
    url, app = live_gateway_at()
    host = signed_in(chromium, url, HOST)
    share_free_busy(host, url, HOST)
    uid = host.inner_text("#user-id")
    host.context.close()
    found = app.extensions["gateway"]
    grant = next(g for g in found.grants.store.list(uid) if g.purpose == "room-availability")
    for room_id, name, extra in (
        ("atlas", "Atlas", {"capacity": 6, "location": "London, 2nd floor",
                            "equipment": ["projector", "whiteboard"]}),
        ("borealis", "Borealis", {"capacity": 12, "location": "London, 5th floor",
                                  "equipment": ["video conference"]}),
    ):  # fmt: skip
        found.rooms.create(
            {"id": room_id, "name": name, "time_zone": "Europe/London", "hours": WEEKDAYS,
             "host": uid, "visibility": ["members"],
             "exceptions": [{"date": "2026-11-26", "hours": []}], **extra}
        )  # fmt: skip
        found.rooms.bind(uid, room_id, grant.id)
    emulator.client.add_event(HOST, "2026-11-25T09:00:00Z", "2026-11-25T10:30:00Z")
    emulator.client.add_event(HOST, "2026-11-24T13:00:00Z", "2026-11-24T15:00:00Z")
    return url, app


@pytest.mark.parametrize("width", WIDTHS)
def test_a_member_opens_a_week_and_finds_a_room_free_for_an_hour(
    live: tuple[str, Any], chromium: Any, width: str
) -> None:
    url, _ = live
    page = signed_in(chromium, url, MEMBER, WIDTHS[width])

    # the week of 25 November in the room's zone: shaded hours, busy blocks, free slots
    page.goto(url + "/rooms/atlas/availability?date=2026-11-25")
    wednesday = page.inner_text("#day-2026-11-25")
    assert "busy 09:00\u201310:30" in wednesday and "free 10:30\u201318:00" in wednesday
    assert "Closed on this date" in page.inner_text("#day-2026-11-26")
    assert page.locator("#day-2026-11-25 svg.bar rect.busy").count() == 1
    shot(page, "01-week-view", width)

    # switched to the viewer's zone by keyboard: type it, Enter submits the form
    page.focus("#tz")
    page.keyboard.type("America/New_York")
    page.keyboard.press("Enter")
    page.wait_for_url("**tz=America%2FNew_York**")
    assert "busy 04:00\u201305:30" in page.inner_text("#day-2026-11-25")
    shot(page, "02-week-in-viewer-zone", width)

    page.click("#switch-view")
    assert page.locator("li.day").count() == 1
    shot(page, "03-day-view", width)

    # find a room free from 10:30 (London) for an hour, filtered by equipment, by keyboard
    page.goto(url + "/rooms?day=2026-11-25")
    assert "busy 09:00\u201310:30" in page.inner_text("#availability-atlas")
    shot(page, "04-rooms", width)
    page.fill("#from_day", "2026-11-25")
    page.fill("#from_time", "10:30")
    page.select_option("#duration", "60")
    page.focus("#find-room")
    page.keyboard.press("Enter")
    page.wait_for_url("**from_time=10%3A30**")
    found = page.inner_text("#found")
    assert "Atlas" in found and "Borealis" in found
    shot(page, "05-found-rooms", width)

    page.check('input[name="equipment"][value="whiteboard"]')
    page.click("#show")
    assert page.locator("section.room").count() == 1
    page.fill("#from_day", "2026-11-25")
    page.fill("#from_time", "09:30")
    page.click("#find-room")
    page.wait_for_url("**from_time=09%3A30**")
    assert page.is_visible("#none-found")  # atlas is busy then, borealis filtered out
    shot(page, "06-none-free", width)

    # the holiday: closed all day, nothing found on it
    page.goto(url + "/rooms?day=2026-11-26&from_day=2026-11-26&from_time=10:00&duration=60")
    assert "Closed on this date" in page.inner_text("#availability-atlas")
    assert page.is_visible("#none-found")
    shot(page, "07-holiday-closed", width)
    page.context.close()

"""An admin creates a room with a holiday from scratch in headless Chromium, and a member sees
it closed that day (issue 18).

Alice has consented to share her calendar's free/busy. Bob, the admin (by his verified
e-mail), signs in through the emulator, follows the Admin link to the rooms list, fills in
the room form (a typed time zone, weekday hours, 25 December closed, Alice picked by name as
host) after one mistake the form shows at its field, and finds the new room by searching.
Alice connects her calendar to it from her own pages; Carol, a member, opens the room's week
and the room finder on 25 December and reads that it is closed, while the day before is
open. Every page is screenshot at 1280 and 390 px into test-artifacts/admin-rooms/; at 390 px
nothing is wider than the screen; axe-core finds no serious or critical violation (checked
at 1280 px, the markup is the same at both widths).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_support import WIDTHS, Screenshots, share_free_busy, signed_in

pytestmark = pytest.mark.browser

shot = Screenshots("admin-rooms")
HOST, ADMIN, MEMBER = "alice@example.com", "bob@example.com", "member@example.com"
HOLIDAY, EVE = "2026-12-25", "2026-12-24"  # a Friday, and the Thursday before


@pytest.fixture
def live(live_gateway_at: Any, chromium: Any, emulator: Any) -> tuple[str, Any]:
    """The gateway with Bob as its admin and Alice's consent to share her free/busy."""
    emulator.client.add_account(MEMBER, "Mia Member", "google")
    url, app = live_gateway_at(GATEWAY_ADMINS=ADMIN)
    host = signed_in(chromium, url, HOST)
    share_free_busy(host, url, HOST)
    host.context.close()
    emulator.client.add_event(HOST, f"{EVE}T09:00:00Z", f"{EVE}T10:00:00Z")
    return url, app


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_creates_a_room_with_a_holiday_and_a_member_sees_it_closed(
    live: tuple[str, Any], chromium: Any, width: str
) -> None:
    url, _ = live
    admin = signed_in(chromium, url, ADMIN, WIDTHS[width])
    admin.click("#admin-link")
    admin.wait_for_url(url + "/admin")
    shot(admin, "01-console", width)
    admin.click("#rooms-link")
    assert admin.is_visible("#no-rooms")
    shot(admin, "02-rooms-empty", width)

    admin.click("#new-room")
    # the host picker lists whom a search finds (a plain GET form beside the field)
    admin.fill("#host_q", "alice")
    admin.click("#find-host")
    admin.wait_for_url("**host_q=alice**")
    assert admin.locator("#host option").count() == 2  # no host yet, Alice
    admin.fill("#name", "Holiday Hall")
    admin.fill("#location", "London, ground floor")
    admin.fill("#time_zone", "Europe/Lodnon")  # a typo: shown at the field, nothing saved
    admin.fill("#capacity", "12")
    admin.fill("#equipment", "projector, piano")
    admin.fill("#hours_friday", "08:00-12:00, 13:00-18:00")
    admin.fill("#exception-date-0", HOLIDAY)  # hours left empty: closed all day
    admin.select_option("#host", label=f"Alice Example <{HOST}>")
    shot(admin, "03-room-form", width)
    admin.click("#save-room")
    assert "Pick a time zone from the list" in admin.inner_text("#error-time_zone")
    assert admin.input_value("#hours_friday") == "08:00-12:00, 13:00-18:00"  # kept
    assert admin.input_value("#exception-date-0") == HOLIDAY
    shot(admin, "04-room-form-mistake", width)

    admin.fill("#time_zone", "Europe/London")
    admin.click("#save-room")
    admin.wait_for_url(url + "/admin/rooms/holiday-hall?done=room-created")
    assert f"{HOLIDAY} closed" in admin.inner_text("#room-exceptions")
    shot(admin, "05-room-created", width)

    admin.goto(url + "/admin/rooms")
    admin.fill("#q", "piano")
    admin.press("#q", "Enter")
    admin.wait_for_url("**q=piano**")
    row = admin.inner_text("#room-holiday-hall")
    assert "Alice Example" in row and "No calendar connected" in row
    shot(admin, "06-rooms-found", width)
    admin.context.close()

    # the host connects her calendar to the room she was given
    host = signed_in(chromium, url, HOST, WIDTHS[width])
    host.goto(url + "/rooms/connect")
    host.click('#room-holiday-hall button[type="submit"]')
    assert "Calendar connected to Holiday Hall" in host.inner_text("#flashes")
    host.context.close()

    member = signed_in(chromium, url, MEMBER, WIDTHS[width])
    assert not member.is_visible("#admin-link")
    member.goto(f"{url}/rooms/holiday-hall/availability?date={HOLIDAY}")
    assert "Closed on this date" in member.inner_text(f"#day-{HOLIDAY}")
    eve = member.inner_text(f"#day-{EVE}")
    assert "busy 09:00\u201310:00" in eve and "Closed on this date" not in eve
    shot(member, "07-member-week", width)
    member.goto(f"{url}/rooms?day={HOLIDAY}")
    assert "Closed on this date" in member.inner_text("#availability-holiday-hall")
    shot(member, "08-member-finder-holiday", width)
    member.context.close()

    # the host pauses processing: the admin's list says so in the status words
    host = signed_in(chromium, url, HOST, WIDTHS[width])
    host.click("#restrict")
    assert host.is_visible("#restricted")
    host.context.close()
    admin = signed_in(chromium, url, ADMIN, WIDTHS[width])
    admin.goto(url + "/admin/rooms")
    assert "Paused by its host" in admin.inner_text("#room-holiday-hall")
    shot(admin, "09-rooms-host-paused", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_other_admin_pages_at_both_widths_pass_axe(
    live: tuple[str, Any], chromium: Any, width: str
) -> None:
    """People, API clients (one created with a room by id: its secret shown once; then
    disabled and deleted), grants, a delete asked."""
    url, app = live
    app.extensions["gateway"].rooms.create(
        {"id": "old-wing", "name": "Old wing", "time_zone": "UTC"}
    )
    admin = signed_in(chromium, url, ADMIN, WIDTHS[width])
    admin.goto(url + "/admin/people")
    admin.fill("#q", "alice")
    admin.press("#q", "Enter")
    admin.wait_for_url("**q=alice**")
    assert admin.locator("#people tbody tr").count() == 1
    assert HOST in admin.inner_text("#people")
    shot(admin, "10-people", width)

    admin.goto(url + "/admin/clients")
    admin.click("#new-client")
    admin.fill("#name", "Lobby signage")
    admin.fill("#audiences", "lobby")
    admin.fill("#rooms", "old-wing")
    shot(admin, "11-client-form", width)
    admin.click("#create-client")
    secret = admin.inner_text("#client-secret")
    assert secret.startswith("gwc_") and "old-wing" in admin.inner_text("#client")
    shot(admin, "12-client-secret-once", width)
    admin.click("#back-to-clients")
    assert secret not in admin.content()
    admin.click('button[id^="disable-"]')
    assert "API client disabled" in admin.inner_text("#flashes")
    assert "Disabled" in admin.inner_text("#clients")
    shot(admin, "13-clients", width)
    admin.click('#clients a[id^="delete-"]')
    assert "Delete the API client Lobby signage?" in admin.inner_text("#confirm-title")
    shot(admin, "13b-client-delete-asked", width)
    admin.click("#delete-client")
    assert "API client deleted" in admin.inner_text("#flashes")
    assert admin.is_visible("#no-clients")

    admin.goto(url + "/admin/grants")
    assert admin.locator("#grants tbody tr").count() == 1  # Alice's room-availability consent
    assert "room-availability" in admin.inner_text("#grants")
    shot(admin, "14-grants-active", width)

    admin.goto(url + "/admin/rooms/old-wing")
    admin.click("#delete-room-link")
    shot(admin, "15-delete-asked", width)
    admin.click("#delete-room")
    assert "Room deleted" in admin.inner_text("#flashes")
    assert admin.is_visible("#no-rooms")
    admin.context.close()

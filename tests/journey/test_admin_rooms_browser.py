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

from pathlib import Path
from typing import Any

import pytest

from tests.journey.accessibility import assert_accessible

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin-rooms"
HOST, ADMIN, MEMBER = "alice@example.com", "bob@example.com", "member@example.com"
WIDTHS = {"desktop": 1280, "phone": 390}
HOLIDAY, EVE = "2026-12-25", "2026-12-24"  # a Friday, and the Thursday before


def sign_in(browser: Any, url: str, account: str, width: int = 1280) -> Any:
    """A page in a browser context of its own (own cookies), signed in with Google."""
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    page.goto(url + "/")
    page.click("#login-google")
    page.check(f'input[name="account"][value="{account}"]')
    page.click("#allow")
    page.wait_for_url(url + "/account")
    return page


def shot(page: Any, width: str, name: str) -> None:
    if width == "desktop":
        assert_accessible(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    if width == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"], name


@pytest.fixture
def live(live_gateway_at: Any, chromium: Any, emulator: Any) -> tuple[str, Any]:
    """The gateway with Bob as its admin and Alice's consent to share her free/busy."""
    emulator.client.add_account(MEMBER, "Mia Member", "google")
    url, app = live_gateway_at(GATEWAY_ADMINS=ADMIN)
    host = sign_in(chromium, url, HOST)
    host.click("#offer-room-availability-google")
    host.click("#give-consent")
    host.check(f'input[name="account"][value="{HOST}"]')
    host.click("#allow")
    host.wait_for_url(url + "/account")
    host.context.close()
    emulator.client.add_event(HOST, f"{EVE}T09:00:00Z", f"{EVE}T10:00:00Z")
    return url, app


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_creates_a_room_with_a_holiday_and_a_member_sees_it_closed(
    live: tuple[str, Any], chromium: Any, width: str
) -> None:
    url, _ = live
    admin = sign_in(chromium, url, ADMIN, WIDTHS[width])
    admin.click("#admin-link")
    admin.wait_for_url(url + "/admin")
    shot(admin, width, "01-console")
    admin.click("#rooms-link")
    assert admin.is_visible("#no-rooms")
    shot(admin, width, "02-rooms-empty")

    admin.click("#new-room")
    admin.fill("#name", "Holiday Hall")
    admin.fill("#location", "London, ground floor")
    admin.fill("#time_zone", "Europe/Lodnon")  # a typo: shown at the field, nothing saved
    admin.fill("#capacity", "12")
    admin.fill("#equipment", "projector, piano")
    admin.fill("#hours_friday", "08:00-12:00, 13:00-18:00")
    admin.fill("#exception-date-0", HOLIDAY)  # hours left empty: closed all day
    admin.select_option("#host", label=f"Alice Example <{HOST}>")
    shot(admin, width, "03-room-form")
    admin.click("#save-room")
    assert "Pick a time zone from the list" in admin.inner_text("#error-time_zone")
    assert admin.input_value("#hours_friday") == "08:00-12:00, 13:00-18:00"  # kept
    assert admin.input_value("#exception-date-0") == HOLIDAY
    shot(admin, width, "04-room-form-mistake")

    admin.fill("#time_zone", "Europe/London")
    admin.click("#save-room")
    admin.wait_for_url(url + "/admin/rooms/holiday-hall?done=room-created")
    assert f"{HOLIDAY} closed" in admin.inner_text("#room-exceptions")
    shot(admin, width, "05-room-created")

    admin.goto(url + "/admin/rooms")
    admin.fill("#q", "piano")
    admin.press("#q", "Enter")
    admin.wait_for_url("**q=piano**")
    row = admin.inner_text("#room-holiday-hall")
    assert "Alice Example" in row and "No calendar connected" in row
    shot(admin, width, "06-rooms-found")
    admin.context.close()

    # the host connects her calendar to the room she was given
    host = sign_in(chromium, url, HOST, WIDTHS[width])
    host.goto(url + "/rooms/connect")
    host.click('#room-holiday-hall button[type="submit"]')
    assert "Calendar connected to Holiday Hall" in host.inner_text("#flashes")
    host.context.close()

    member = sign_in(chromium, url, MEMBER, WIDTHS[width])
    assert not member.is_visible("#admin-link")
    member.goto(f"{url}/rooms/holiday-hall/availability?date={HOLIDAY}")
    assert "Closed on this date" in member.inner_text(f"#day-{HOLIDAY}")
    eve = member.inner_text(f"#day-{EVE}")
    assert "busy 09:00\u201310:00" in eve and "Closed on this date" not in eve
    shot(member, width, "07-member-week")
    member.goto(f"{url}/rooms?day={HOLIDAY}")
    assert "Closed on this date" in member.inner_text("#availability-holiday-hall")
    shot(member, width, "08-member-finder-holiday")
    member.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_other_admin_pages_at_both_widths_pass_axe(
    live: tuple[str, Any], chromium: Any, width: str
) -> None:
    """People, API clients (one created: its secret shown once), grants, a delete asked."""
    url, app = live
    app.extensions["gateway"].rooms.create(
        {"id": "old-wing", "name": "Old wing", "time_zone": "UTC"}
    )
    admin = sign_in(chromium, url, ADMIN, WIDTHS[width])
    admin.goto(url + "/admin/people")
    admin.fill("#q", "alice")
    admin.press("#q", "Enter")
    admin.wait_for_url("**q=alice**")
    assert admin.locator("#people tbody tr").count() == 1
    assert HOST in admin.inner_text("#people")
    shot(admin, width, "10-people")

    admin.goto(url + "/admin/clients")
    admin.click("#new-client")
    admin.fill("#name", "Lobby signage")
    admin.fill("#audiences", "lobby")
    shot(admin, width, "11-client-form")
    admin.click("#create-client")
    secret = admin.inner_text("#client-secret")
    assert secret.startswith("gwc_")
    shot(admin, width, "12-client-secret-once")
    admin.click("#back-to-clients")
    assert secret not in admin.content()
    admin.click('button[id^="disable-"]')
    assert "API client disabled" in admin.inner_text("#flashes")
    assert "Disabled" in admin.inner_text("#clients")
    shot(admin, width, "13-clients")

    admin.goto(url + "/admin/grants")
    assert admin.locator("#grants tbody tr").count() == 1  # Alice's room-availability consent
    assert "room-availability" in admin.inner_text("#grants")
    shot(admin, width, "14-grants-active")

    admin.goto(url + "/admin/rooms/old-wing")
    admin.click("#delete-room-link")
    shot(admin, width, "15-delete-asked")
    admin.click("#delete-room")
    assert "Room deleted" in admin.inner_text("#flashes")
    assert admin.is_visible("#no-rooms")
    admin.context.close()

"""An admin in headless Chromium revokes a host's grant with a reason; the host reads it."""

from __future__ import annotations

from typing import Any

import pytest

ALICE, BOB = "alice@example.com", "bob@example.com"
REASON = "An administrator ended this connection: the room moved to another building."
DAY = {"rooms": ["atlas"], "timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}

pytestmark = pytest.mark.browser


@pytest.fixture
def live(live_gateway_at: Any, emulator: Any) -> tuple[str, Any]:
    """The gateway on a free port, with Bob as its admin: (its URL, the app)."""
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == BOB)
    return live_gateway_at(GATEWAY_ADMINS=f"google:{subject}")


@pytest.fixture
def browser(chromium: Any) -> Any:
    return chromium


def signed_in_page(browser: Any, url: str, account: str) -> Any:
    """A browser context of its own (its own cookies), signed in with Google as `account`."""
    context = browser.new_context(ignore_https_errors=True)  # the emulator's own CA
    page = context.new_page()
    page.goto(url + "/")
    page.click("#login-google")
    page.check(f'input[name="account"][value="{account}"]')
    page.click("#allow")
    page.wait_for_url(url + "/account")
    return page


def freebusy_of_atlas(page: Any, url: str) -> dict[str, Any]:
    """What a signed-in member gets from the JSON API (its session needs the CSRF header)."""
    page.goto(url + "/account")
    token = page.get_attribute('input[name="csrf_token"]', "value")
    answer = page.request.post(url + "/v1/freebusy", data=DAY, headers={"X-CSRFToken": token})
    assert answer.status == 200, answer.text()
    return answer.json()["rooms"]["atlas"]  # type: ignore[no-any-return]


def test_an_admin_revokes_a_hosts_grant_and_the_host_reads_why(
    live: tuple[str, Any], browser: Any, emulator: Any
) -> None:
    url, app = live
    host = signed_in_page(browser, url, ALICE)
    host.click("#offer-room-availability-google")
    host.click("#give-consent")
    host.check(f'input[name="account"][value="{ALICE}"]')
    host.click("#allow")
    host.wait_for_url(url + "/account")
    uid = host.inner_text("#user-id")
    app.extensions["gateway"].rooms.create(
        {
            "id": "atlas",
            "name": "Atlas",
            "time_zone": "UTC",
            "hours": {"wednesday": [["08:00", "18:00"]]},
            "host": uid,
            "visibility": ["members"],
        }
    )
    host.goto(url + "/rooms/connect")
    host.click('#room-atlas button[type="submit"]')
    emulator.client.add_event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")

    console = signed_in_page(browser, url, BOB)
    assert freebusy_of_atlas(console, url)["status"] == "ok"
    console.goto(url + "/admin")
    console.fill("#room", "atlas")
    console.click('#find-room button[type="submit"]')
    console.wait_for_url(url + "/admin/rooms/atlas")
    console.fill("#reason", REASON)
    console.click("#revoke-room-grant")
    assert console.inner_text("#outcome") == "The room's grant revoked"
    assert REASON in console.inner_text("#receipt-1")

    host.goto(url + "/account")
    assert host.inner_text(".grants .reason") == REASON
    assert not host.is_visible("#binding-atlas")
    assert freebusy_of_atlas(console, url) == {
        "busy": [],
        "status": "unbound",
        "stale": False,
        "asOf": None,
    }

"""An admin in headless Chromium revokes a host's grant with a reason; the host reads it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_support import Screenshots, share_free_busy, signed_in

ALICE, BOB = "alice@example.com", "bob@example.com"
REASON = "An administrator ended this connection: the room moved to another building."
DAY = {"rooms": ["atlas"], "timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}

pytestmark = pytest.mark.browser
shot = Screenshots("admin")


@pytest.fixture
def live(live_gateway_at: Any, emulator: Any) -> tuple[str, Any]:
    """The gateway on a free port, with Bob as its admin: (its URL, the app)."""
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == BOB)
    return live_gateway_at(GATEWAY_ADMINS=f"google:{subject}")


@pytest.fixture
def browser(chromium: Any) -> Any:
    return chromium


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
    host = signed_in(browser, url, ALICE)
    share_free_busy(host, url, ALICE)
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

    console = signed_in(browser, url, BOB)
    assert freebusy_of_atlas(console, url)["status"] == "ok"
    console.goto(url + "/admin")
    console.fill("#room", "atlas")
    console.click('#find-room button[type="submit"]')
    console.wait_for_url(url + "/admin/rooms/atlas")
    console.fill("#reason", REASON)
    console.click("#revoke-room-grant")
    assert console.inner_text("#outcome") == "The room's grant revoked"
    words = console.inner_text("#receipts article")  # the receipt in words, JSON behind it
    assert "Calendar access ended" in words and "1 room connection removed" in words
    assert REASON in words and not console.is_visible("#receipt-1")
    shot(console, "receipts-in-words", "desktop")  # axe-core: nothing serious
    console.click("#receipt-document-1 summary")
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

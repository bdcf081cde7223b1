"""The whole journey in headless Chromium, with a screenshot of every step.

A host signs in with (emulated) Google, first unticks the calendar permission (and is told
what is missing), then consents and binds a room; a colleague signs in with Microsoft and
sees only busy blocks for it; the host exports their data and erases the account; the room
turns "unbound"; the colleague, an admin, reads the audit trail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "journey"
FREEBUSY = "https://www.googleapis.com/auth/calendar.events.freebusy"  # consent version 2
PLANTED = "Quarterly layoffs planning"
HOST, COLLEAGUE = "alice@example.com", "carol@contoso.example"


@pytest.fixture
def live(live_gateway_at: Any, emulator: Any) -> tuple[str, Any]:
    """The gateway on a free port, with the Microsoft colleague as its admin."""
    carol = next(a for a in emulator.client.accounts() if a["email"] == COLLEAGUE)
    return live_gateway_at(GATEWAY_ADMINS=f"microsoft:{carol['tenant']}:{carol['subject']}")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, url: str, provider: str, account: str) -> None:
    page.goto(url + "/")
    page.click(f"#login-{provider}")
    page.check(f'input[name="account"][value="{account}"]')
    page.click("#allow")
    page.wait_for_url(url + "/account")


def test_the_whole_journey(live: tuple[str, Any], chromium: Any, emulator: Any) -> None:
    url, app = live
    emulator.client.add_event(
        HOST,
        "2026-11-25T09:00:00Z",
        "2026-11-25T10:30:00Z",
        summary=PLANTED,
        location="Boardroom",
        attendees=["ceo@example.com"],
    )
    host = chromium.new_context(ignore_https_errors=True, accept_downloads=True).new_page()

    # 1. the host signs in, refuses the calendar permission once, then gives it
    sign_in(host, url, "google", HOST)
    shot(host, "01-host-signed-in")
    host.click("#offer-room-availability-google")
    shot(host, "02-consent-page")
    host.click("#give-consent")
    host.check(f'input[name="account"][value="{HOST}"]')
    host.uncheck(f'input[name="scope"][value="{FREEBUSY}"]')
    host.click("#allow")
    host.wait_for_url(f"{url}/consent/room-availability/incomplete*")
    assert FREEBUSY in host.inner_text("#missing")
    shot(host, "03-consent-incomplete")
    host.click("#try-again")
    host.check(f'input[name="account"][value="{HOST}"]')
    host.click("#allow")
    host.wait_for_url(url + "/account")
    shot(host, "04-consent-given")

    # 2. an admin made the room earlier; the host binds it
    host_uid = host.inner_text("#user-id")
    app.extensions["gateway"].rooms.create(
        {
            "id": "atlas",
            "name": "Atlas",
            "time_zone": "UTC",
            "host": host_uid,
            "visibility": ["members"],
            "hours": {"wednesday": [["08:00", "18:00"]]},
        }
    )
    host.goto(url + "/rooms/connect")
    host.click('#room-atlas button[type="submit"]')
    host.goto(url + "/account")
    assert "Atlas" in host.inner_text("#binding-atlas")
    shot(host, "05-room-bound")

    # 3. a colleague signs in with Microsoft and sees busy blocks only
    colleague = chromium.new_context(ignore_https_errors=True).new_page()
    sign_in(colleague, url, "microsoft", COLLEAGUE)
    colleague.goto(url + "/rooms?day=2026-11-25")
    room = colleague.inner_text("#availability-atlas")
    assert "busy 09:00\u201310:30" in room  # an en dash between the times
    page_text = colleague.content()
    for secret in (PLANTED, "Boardroom", "ceo@example.com", HOST):
        assert secret not in page_text
    shot(colleague, "06-colleague-sees-busy-blocks")

    # 4. the host exports their data, then erases the account
    host.goto(url + "/account")
    with host.expect_download() as download:
        host.click("#export")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["user"]["email"] == HOST
    assert exported["rooms"]["bindings"][0]["room"] == "atlas"
    host.click("#erase-start")  # the confirmation page says what goes, then asks
    host.check('input[name="confirm"]')
    host.click("#erase")
    assert '"kind": "erasure"' in host.inner_text("#receipt")
    shot(host, "07-erased-with-receipt")

    # 5. the room is unbound now; the colleague (an admin) reads the audit trail
    colleague.goto(url + "/rooms?day=2026-11-25")
    assert colleague.inner_text("#availability-atlas .room-status") == "unbound"
    shot(colleague, "08-room-unbound")
    colleague.goto(url + "/admin/audit")
    trail = colleague.content()
    assert "account.erase" in trail
    assert HOST not in trail and host_uid not in trail
    shot(colleague, "09-admin-audit-trail")

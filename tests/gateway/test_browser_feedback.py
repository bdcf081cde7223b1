"""Feedback and safety in headless Chromium: every action says it worked, disconnect,
withdraw and erase each ask first (a page of their own: the CSP allows no script), nothing
already done is offered again, and a host whose access ended reads who ended it, why, and
what is left to do at the provider. Screenshots go to test-artifacts/feedback/.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_support import Screenshots, share_free_busy, signed_in

pytestmark = pytest.mark.browser

shot = Screenshots("feedback")
ALICE, BOB = "alice@example.com", "bob@example.com"
REASON = "The room is being refurbished until March."
DAY = "2026-11-25"  # a Wednesday
HOURS = {"wednesday": [["08:00", "18:00"]]}


@pytest.fixture
def live(live_gateway_at: Any) -> tuple[str, Any]:
    """Bob is an admin by his Google-verified e-mail address, not by his subject."""
    return live_gateway_at(GATEWAY_ADMINS=BOB.upper())


def give_consent(page: Any, url: str) -> None:
    share_free_busy(page, url, ALICE)
    assert "Consent given: “Show when your room is free”" in page.inner_text("#flashes")
    # what is given is not offered again
    assert page.locator("#offer-room-availability-google").count() == 0


def bind_atlas(page: Any, url: str) -> None:
    page.goto(url + "/rooms/connect")
    page.click('#room-atlas button[type="submit"]')
    page.wait_for_url(url + "/rooms/connect")
    assert "Calendar connected to Atlas" in page.inner_text("#flashes")


def status_of_atlas(page: Any, url: str) -> tuple[str, str]:
    page.goto(f"{url}/rooms?day={DAY}")
    return (
        page.inner_text("#availability-atlas .room-status"),
        page.inner_text("#availability-atlas"),
    )


def test_actions_confirm_first_and_say_what_happened(
    live: tuple[str, Any], chromium: Any, emulator: Any
) -> None:
    url, app = live
    found = app.extensions["gateway"]
    alice = signed_in(chromium, url, ALICE)
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == ALICE)
    assert alice.inner_text("#admin-id-google") == f"google:{subject}"  # to copy
    assert alice.locator("#is-admin").count() == 0
    shot(alice, "01-signed-in-with-admin-id")

    give_consent(alice, url)
    uid = alice.inner_text("#user-id")
    found.rooms.create(  # no visibility given: members see it
        {"id": "atlas", "name": "Atlas", "time_zone": "UTC", "host": uid, "hours": HOURS}
    )
    bind_atlas(alice, url)
    emulator.client.add_event(ALICE, f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z")

    # Bob: an admin by e-mail, and a member who sees the new room (audience "members")
    bob = signed_in(chromium, url, BOB)
    assert bob.is_visible("#is-admin")
    assert status_of_atlas(bob, url)[0] == "ok"
    assert "busy 09:00\u201310:00" in bob.inner_text("#availability-atlas")

    # Disconnect asks first; "Cancel" keeps everything
    alice.goto(url + "/account")
    alice.click('button[id^="disconnect-"]')
    assert "Atlas" in alice.inner_text("#consequences")
    shot(alice, "02-disconnect-confirmation")
    alice.click("#cancel")
    alice.wait_for_url(url + "/account")
    assert alice.is_visible('button[id^="disconnect-"]')
    assert status_of_atlas(bob, url)[0] == "ok"
    alice.click('button[id^="disconnect-"]')
    alice.click("#confirm")
    alice.wait_for_url(url + "/account?done=disconnected")
    assert "Disconnected" in alice.inner_text("#flashes")
    assert alice.locator('button[id^="disconnect-"]').count() == 0  # nothing to disconnect
    assert alice.inner_text(".ended-by") == "you"
    shot(alice, "03-disconnected-message")
    status, words = status_of_atlas(bob, url)
    assert status == "unbound" and "No calendar connected" in words, words
    shot(bob, "04-room-unbound-in-words")

    # Withdraw asks first too
    give_consent(alice, url)
    bind_atlas(alice, url)
    alice.goto(url + "/account")
    alice.click("#withdraw-room-availability-google")
    assert "Withdraw your consent" in alice.inner_text("#confirm-title")
    shot(alice, "05-withdraw-confirmation")
    alice.click("#confirm")
    alice.wait_for_url(url + "/account?done=withdrawn")
    assert "withdrawn" in alice.inner_text("#flashes")
    assert alice.locator("#withdraw-room-availability-google").count() == 0
    assert status_of_atlas(bob, url)[0] == "unbound"

    # An administrator ends the access: the host reads who, why, and what to do where
    give_consent(alice, url)
    bind_atlas(alice, url)
    gid = next(g.id for g in found.grants.list(uid) if g.status == "active")
    bob.goto(url + "/account")
    bob_uid = bob.inner_text("#user-id")
    found.revocation.revoke_grant(uid, gid, reason=REASON, actor=bob_uid)
    alice.goto(url + "/account")
    ending = f"#ending-{gid}"
    assert alice.inner_text(f"{ending} .ended-by") == "an administrator"
    assert alice.inner_text(f"{ending} .reason") == REASON
    assert "Google was asked to revoke" in alice.inner_text(f"{ending} .at-provider")
    assert "Reason" in alice.inner_text(ending)  # the reason under its label
    unused = alice.inner_text("#unused-room-availability-google")
    assert "Still in force" in unused and "ended by an administrator" in unused
    shot(alice, "06-ended-by-an-administrator")

    # Nothing is offered twice: an ended access cannot be disconnected again
    alice.goto(f"{url}/account/grants/{gid}/disconnect")
    alice.wait_for_url(url + "/account")
    assert "already ended" in alice.inner_text("#flashes")

    # Erase asks on its own page, and the box must be ticked
    alice.click("#erase-start")
    assert "cannot be undone" in alice.inner_text("main")
    alice.click("#erase")  # the required box is not ticked: the browser stays put
    assert alice.url.startswith(url + "/account/erase")
    shot(alice, "07-erase-confirmation")
    alice.check("#confirm-box")
    alice.click("#erase")
    assert '"kind": "erasure"' in alice.inner_text("#receipt")
    assert found.users.get(uid) is None


def test_a_host_whose_grant_the_provider_refused_reads_that_the_provider_ended_it(
    live: tuple[str, Any], chromium: Any, emulator: Any
) -> None:
    url, app = live
    alice = signed_in(chromium, url, ALICE)
    give_consent(alice, url)
    uid = alice.inner_text("#user-id")
    app.extensions["gateway"].rooms.create(
        {"id": "atlas", "name": "Atlas", "time_zone": "UTC", "host": uid, "hours": HOURS}
    )
    bind_atlas(alice, url)
    emulator.client.fault("google.freebusy", status=401, times=-1)
    emulator.client.fault("google.token", error="invalid_grant", times=-1)

    status, words = status_of_atlas(alice, url)
    assert status == "needs_reconnect" and "connect the calendar again" in words, words
    alice.goto(url + "/account")
    assert alice.inner_text(".ended-by") == "the provider"
    assert "Connect the calendar again" in alice.inner_text(".next-step")
    assert alice.is_visible("#reconnect-room-availability-google")
    shot(alice, "08-ended-by-the-provider")

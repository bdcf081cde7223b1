"""An admin in headless Chromium gives an API client a webhook: the signing secret is shown
once, a private address is refused in words, and the page lists the last deliveries."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser_support import WIDTHS, Screenshots, signed_in

BOB = "bob@example.com"
PUBLIC = "https://8.8.8.8/hooks/rooms"  # a literal: checked without a DNS lookup

pytestmark = pytest.mark.browser
shot = Screenshots("admin")


@pytest.fixture
def live(live_gateway_at: Any, emulator: Any) -> tuple[str, Any]:
    """The gateway on a free port, with Bob as its admin: (its URL, the app)."""
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == BOB)
    return live_gateway_at(GATEWAY_ADMINS=f"google:{subject}")


def test_an_admin_sets_a_webhook_reads_its_secret_once_and_its_deliveries(
    live: tuple[str, Any], chromium: Any
) -> None:
    url, app = live
    feed = app.extensions["gateway"].change_feed
    client, _ = app.extensions["gateway"].clients.create("Booking", audiences=["frontend"])
    console = signed_in(chromium, url, BOB)

    console.goto(url + "/admin/clients")
    console.click(f"#webhook-{client.id}")
    assert console.inner_text("#webhook-url").startswith("No webhook")
    console.fill("#url", "https://10.0.0.8/hooks")
    console.click("#set-webhook")
    assert "private" in console.inner_text("#form-errors")
    shot(console, "webhook-refused", "desktop")  # axe-core: nothing serious

    console.fill("#url", PUBLIC)
    console.click("#set-webhook")
    secret = console.inner_text("#webhook-secret")
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    shot(console, "webhook-secret", "desktop")

    entry = {"type": "room.availability.changed", "room": "atlas", "at": "2026-12-07T18:00:00Z"}
    feed.store.log(
        client.id, "msg_1", {**entry, "status": "retrying", "answer": "503", "attempts": 2}
    )
    console.click("#back-to-webhook")
    assert PUBLIC in console.inner_text("#webhook-url")
    assert secret not in console.content()
    assert "retrying" in console.inner_text("#deliveries")
    shot(console, "webhook-deliveries", "desktop")
    console.set_viewport_size({"width": WIDTHS["phone"], "height": 900})
    shot(console, "webhook-deliveries", "phone")

"""A revoked host, in headless Chromium, reads the receipt in their own time zone, downloads
it and verifies it with the key the gateway publishes (joserfc, nothing of the gateway's
code); the same page says who asked for their room's busy times. Screenshots at desktop
(1280) and phone (390) width in test-artifacts/receipts; axe-core finds no serious or
critical violation on the pages shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from joserfc import jws
from joserfc.jwk import KeySet

from gateway.crypto.receipt_keys import JWKS_PATH
from gateway.crypto.receipts import ReceiptInvalid, verify_jws
from tests.browser_support import WIDTHS, Screenshots, share_free_busy, signed_in
from tests.journey.accessibility import assert_accessible

pytestmark = pytest.mark.browser

shot = Screenshots("receipts")
HOST, ADMIN = "alice@example.com", "bob@example.com"
REASON = "The room moved to another building."
DAY = {"rooms": ["atlas"], "timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}


def test_a_revoked_host_downloads_the_receipt_and_verifies_it_with_the_published_key(
    live_gateway_at: Any, emulator: Any, chromium: Any
) -> None:
    bob = next(a for a in emulator.client.accounts() if a["email"] == ADMIN)
    url, app = live_gateway_at(GATEWAY_ADMINS=f"google:{bob['subject']}")
    found = app.extensions["gateway"]

    # the host gives calendar access and connects a room members may see
    host = signed_in(chromium, url, HOST)
    share_free_busy(host, url, HOST)
    uid = host.inner_text("#user-id")
    found.rooms.create(
        {
            "id": "atlas",
            "name": "Atlas",
            "time_zone": "Europe/Brussels",
            "hours": {"wednesday": [["08:00", "18:00"]]},
            "host": uid,
            "visibility": ["members"],
        }
    )
    host.goto(url + "/rooms/connect")
    host.click('#room-atlas button[type="submit"]')

    # a member asks for the room's busy times; then, as admin, ends the host's grant
    admin = signed_in(chromium, url, ADMIN)
    token = admin.get_attribute('input[name="csrf_token"]', "value")
    asked = admin.request.post(url + "/v1/freebusy", data=DAY, headers={"X-CSRFToken": token})
    assert asked.status == 200 and asked.json()["rooms"]["atlas"]["status"] == "ok"
    admin.goto(url + "/admin/rooms/atlas")
    admin.fill("#reason", REASON)
    admin.click("#revoke-room-grant")
    assert admin.inner_text("#outcome") == "The room's grant revoked"
    assert admin.get_attribute("#jwks-link", "href") == JWKS_PATH

    # the host reads the receipt in their zone, in words
    host.goto(url + "/account")
    host.fill("#tz", "Europe/Brussels")
    host.click("#tz-apply")
    host.wait_for_url(url + "/account?tz=Europe%2FBrussels")
    [receipt_id] = [r["receipt"] for r in found.revocation.receipts(uid)]
    card = host.locator(f"#receipt-{receipt_id}")
    text = card.inner_text()
    stored_at = found.revocation.receipts(uid)[0]["at"]
    local = datetime.fromtimestamp(stored_at, UTC).astimezone(ZoneInfo("Europe/Brussels"))
    assert local.strftime("%Y-%m-%d %H:%M %Z") in text and "UTC" not in text
    assert "Calendar access ended" in text and REASON in text
    assert "1 encryption key destroyed" in text and "1 room connection removed" in text
    access = host.inner_text("#room-access")
    assert "Atlas" in access and "members" in access and ADMIN not in access
    assert "Bob" not in access
    host.click("#verify-howto summary")  # the how-to, open for the screenshots
    jwks_url = host.get_attribute("#jwks-link", "href")
    assert jwks_url == url + JWKS_PATH

    for name, width in WIDTHS.items():
        host.set_viewport_size({"width": width, "height": 900})
        card.scroll_into_view_if_needed()
        shot(host, f"account-receipts-{name}")
        assert_accessible(host)
        assert host.evaluate("document.documentElement.scrollWidth") <= width  # no sideways

    # the download, checked with nothing but the published key set and joserfc
    with host.expect_download() as started:
        host.click(f"#download-{receipt_id}")
    download = started.value
    assert download.suggested_filename == f"receipt-{receipt_id}.json"
    receipt = json.loads(Path(download.path()).read_text())
    published = requests.get(str(jwks_url), timeout=10)
    assert published.headers["Access-Control-Allow-Origin"] == "*"
    keys = KeySet.import_key_set(published.json())
    signed = jws.deserialize_compact(receipt["signature"]["jws"], keys, algorithms=["Ed25519"])
    payload = json.loads(signed.payload)
    assert payload == {k: v for k, v in receipt.items() if k != "signature"}
    assert payload["reason"] == REASON and payload["kind"] == "grant-revocation"
    # a change to the downloaded file no longer matches the signature
    tampered = {**receipt, "reason": "nothing happened"}
    with pytest.raises(ReceiptInvalid, match="does not match its signature"):
        verify_jws(tampered, published.json()["keys"])

    # the JWKS page itself, as a browser shows it
    host.goto(str(jwks_url))
    assert json.loads(host.inner_text("body"))["keys"][0]["crv"] == "Ed25519"


def test_an_erased_person_keeps_the_receipt_and_verifies_it(
    live_gateway_at: Any, chromium: Any
) -> None:
    url, _app = live_gateway_at()
    person = signed_in(chromium, url, HOST, width=WIDTHS["phone"])
    person.goto(url + "/account?tz=America%2FNew_York")
    person.click("#erase-start")
    person.check("#confirm-box")
    person.click("#erase")
    person.wait_for_selector("#download-receipt")
    text = person.inner_text("main")
    assert "Account erased" in text and "1 sign-in session ended" in text
    assert "1 pseudonymous audit record (required by law)" in text
    assert " EST" in text or " EDT" in text  # the zone chosen before erasing
    shot(person, "erased-phone")
    assert_accessible(person)
    person.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    shot(person, "erased-desktop")
    assert_accessible(person)

    with person.expect_download() as started:
        person.click("#download-receipt")
    receipt = json.loads(Path(started.value.path()).read_text())
    assert started.value.suggested_filename == f"receipt-{receipt['receipt']}.json"
    keys = KeySet.import_key_set(requests.get(url + JWKS_PATH, timeout=10).json())
    signed = jws.deserialize_compact(receipt["signature"]["jws"], keys, algorithms=["Ed25519"])
    assert json.loads(signed.payload)["kind"] == "erasure"
    assert json.loads(signed.payload) == {k: v for k, v in receipt.items() if k != "signature"}

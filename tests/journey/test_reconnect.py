"""A host whose grant breaks, in headless Chromium: the emulator answers free/busy with a
401 and the forced refresh with invalid_grant; the booking API then says needs_reconnect,
the host sees the banner on every page, an e-mail arrives at a real SMTP server, an admin
sees the room listed, and one click on Reconnect (straight into the consent flow) brings
the room back to ok."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.services.api_clients import ApiClientService
from tests.browser_support import Screenshots, new_page, sign_in
from tests.hosts import PLANTED
from tests.smtp import smtp_server

pytestmark = pytest.mark.browser

shot = Screenshots("reconnect")
HOST, ADMIN = "alice@example.com", "bob@example.com"


def at_emulator(page: Any, url: str, account: str) -> None:
    page.check(f'input[name="account"][value="{account}"]')
    page.click("#allow")
    page.wait_for_url(url + "/account")


def test_a_broken_grant_is_seen_mailed_and_reconnected(
    live_gateway_at: Any, emulator: Any, chromium: Any, tmp_path: Path
) -> None:
    with smtp_server(tmp_path) as (smtp_url, inbox, smtp_ca):
        bundle = tmp_path / "bundle.pem"
        bundle.write_bytes(Path(emulator.ca_path).read_bytes() + smtp_ca.read_bytes())
        bob = next(a for a in emulator.client.accounts() if a["email"] == ADMIN)
        url, app = live_gateway_at(
            GATEWAY_SMTP_URL=smtp_url,
            GATEWAY_CA_BUNDLE=str(bundle),
            GATEWAY_ADMINS=f"google:{bob['subject']}",
        )
        found = app.extensions["gateway"]
        host = new_page(chromium)

        # the host consents and an admin's room is bound to their main calendar
        sign_in(host, url, HOST)
        host.goto(url + "/consent/room-availability?provider=google")
        host.click("#give-consent")
        at_emulator(host, url, HOST)
        uid = host.inner_text("#user-id")
        [grant] = found.grants.list(uid)
        found.rooms.create(
            {
                "id": "atlas",
                "name": "Atlas",
                "time_zone": "Europe/Brussels",
                "host": uid,
                "visibility": ["members", "frontend"],
            }
        )
        found.rooms.bind(uid, "atlas", grant.id)
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        emulator.client.add_event(
            HOST,
            (start + timedelta(hours=9)).isoformat(),
            (start + timedelta(hours=10)).isoformat(),
            summary=PLANTED[0],
        )
        secret = ApiClientService(found.api_clients, found.audit).create(
            "booking", audiences=["frontend"]
        )[1]

        def api_status() -> str:
            answer = requests.post(
                f"{url}/v1/freebusy",
                json={
                    "rooms": ["atlas"],
                    "timeMin": start.isoformat().replace("+00:00", "Z"),
                    "timeMax": (start + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
                },
                headers={"Authorization": f"Bearer {secret}"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            return str(answer.json()["rooms"]["atlas"]["status"])

        # every answer asks the provider (no cached day), though the calendar is watched
        found.freebusy.ttl_seconds = found.freebusy.freshness.watched_ttl_seconds = 0
        assert api_status() == "ok"

        # the provider refuses: 401 on free/busy, then invalid_grant on the forced refresh
        emulator.client.fault("google.freebusy", status=401)
        emulator.client.fault("google.token", error="invalid_grant")
        # the cached day is answered at once (stale) and refreshed in the background, where
        # the provider refuses; the answer after that refresh shows it
        assert api_status() in ("ok", "needs_reconnect")
        assert found.freebusy.refresher.wait_idle(timeout=30)
        assert api_status() == "needs_reconnect"

        host.goto(url + "/rooms")
        assert "Atlas" in host.inner_text("#reconnect-banner")
        shot(host, "01-banner-on-rooms")
        host.goto(url + "/account")
        assert host.is_visible(f"#reconnect-{grant.id}")
        shot(host, "02-account-reconnect-button")

        [message] = inbox.wait()
        assert message["To"] == HOST and "Atlas" in message["Subject"]
        assert PLANTED[0] not in message.as_string()

        admin = new_page(chromium)
        sign_in(admin, url, ADMIN)
        admin.goto(url + "/admin")
        assert "Atlas" in admin.inner_text("#broken-atlas")
        shot(admin, "03-admin-broken-rooms")

        # one click: straight to the provider's consent, back with a working grant
        host.click(f"#banner-reconnect-{grant.id}")
        at_emulator(host, url, HOST)
        assert host.locator("#reconnect-banner").count() == 0
        shot(host, "04-reconnected")
        assert api_status() == "ok"
        assert found.health.broken_rooms() == []
        assert len(inbox.messages) == 1

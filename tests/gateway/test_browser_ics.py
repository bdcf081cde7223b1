"""A host in headless Chromium connects a calendar by its secret ICS address (a real HTTPS
feed server) on the consent page and binds it to a room they host: the form's one field, a
wrong address's message (the address not shown back), the grant on the account page and
the room's binding. Screenshots go to test-artifacts/ics/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.browser_support import Screenshots, new_page, sign_in
from tests.connectors.ics_events import DAY, FEED
from tests.connectors.ics_server import SECRET_PATH, FeedServer, publish_feed
from tests.gateway.typed_credential_support import enabled
from tests.hosts import FRONTEND, OFFICE_HOURS

pytestmark = pytest.mark.browser
shot = Screenshots("ics")


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[tuple[FeedServer, trustme.CA]]:
    ca = trustme.CA()
    path = tmp_path / "feed-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    with publish_feed(ca, str(path), FEED) as server:
        yield server, ca


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    page = new_page(chromium)
    yield page
    page.context.close()


def test_a_host_connects_a_feed_and_binds_it_to_a_room_in_a_browser(
    live_gateway_at: Any,
    emulator: Any,
    feed: tuple[FeedServer, trustme.CA],
    page: Any,
    tmp_path: Path,
) -> None:
    server, ca = feed
    url, app = live_gateway_at(**enabled("ics", tmp_path, emulator, ca))
    sign_in(page, url, "alice@example.com")
    uid = page.inner_text("#user-id")

    page.click("#offer-room-availability-ics")
    assert page.is_visible("#feed-note") and page.locator("#credential-form input").count() == 3
    shot(page, "consent-form")
    wrong = server.url.replace("basic.ics", "full.ics")
    page.fill('input[name="feed_url"]', wrong)
    page.click("#give-consent")
    assert "no calendar feed at that address" in page.inner_text("#credential-error")
    assert page.input_value('input[name="feed_url"]') == ""  # the secret is not shown back
    assert SECRET_PATH.split("/")[3] not in page.content()
    shot(page, "consent-wrong-address")

    page.fill('input[name="feed_url"]', server.url.replace("https://", "webcal://"))
    page.click("#give-consent")
    page.wait_for_url(url + "/account")
    assert page.is_visible("#withdraw-room-availability-ics")
    (grant,) = app.extensions["gateway"].grants.list(uid)
    assert grant.provider == "ics" and grant.status == "active"

    app.extensions["gateway"].rooms.create(
        {
            "id": "feed-room",
            "name": "Feed room",
            "time_zone": "UTC",
            "hours": OFFICE_HOURS,
            "host": uid,
            "visibility": ["frontend"],
        }
    )
    page.goto(url + "/rooms/connect")
    page.click(f"#bind-feed-room-{grant.id} button[type=submit]")
    page.wait_for_url(url + "/rooms/connect*")
    assert "ICS feed" in page.inner_text("#room-feed-room-binding")
    shot(page, "room-bound")
    assert SECRET_PATH.split("/")[3] not in page.content()
    answer = app.extensions["gateway"].freebusy.query(FRONTEND, ["feed-room"], *DAY)
    assert answer.rooms["feed-room"].status == "ok" and answer.rooms["feed-room"].busy

"""A host in headless Chromium connects a CalDAV calendar (a real Radicale over TLS) with
an app password on the consent page: the form's fields, a preset, a wrong password's
message, and the grant on the account page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.browser_support import new_page, sign_in
from tests.connectors.radicale_server import Radicale, start_radicale
from tests.gateway.typed_credential_support import enabled

pytestmark = pytest.mark.browser
PASSWORD = "browser-app-pw-3"  # pragma: allowlist secret


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[tuple[Radicale, trustme.CA]]:
    ca = trustme.CA()
    with start_radicale(tmp_path / "radicale", ca, {"alice": PASSWORD}) as server:
        yield server, ca


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    page = new_page(chromium)
    yield page
    page.context.close()


def test_a_host_connects_a_caldav_calendar_in_a_browser(
    live_gateway_at: Any,
    emulator: Any,
    radicale: tuple[Radicale, trustme.CA],
    page: Any,
    tmp_path: Path,
) -> None:
    server, ca = radicale
    url, app = live_gateway_at(**enabled("caldav", tmp_path, emulator, ca))
    sign_in(page, url, "alice@example.com")

    page.click("#offer-room-availability-caldav")
    page.click("#presets a:text('iCloud')")
    assert page.input_value('input[name="server_url"]') == "https://caldav.icloud.com/"

    page.fill('input[name="server_url"]', server.url)
    page.fill('input[name="username"]', "alice")
    page.fill('input[name="password"]', "not-it")
    page.click("#give-consent")
    assert "refused that user name and app password" in page.inner_text("#credential-error")
    assert page.input_value('input[name="password"]') == ""
    assert page.input_value('input[name="username"]') == "alice"

    page.fill('input[name="password"]', PASSWORD)
    page.click("#give-consent")
    page.wait_for_url(url + "/account")
    assert page.is_visible("#withdraw-room-availability-caldav")
    uid = page.inner_text("#user-id")
    (grant,) = app.extensions["gateway"].grants.list(uid)
    assert grant.provider == "caldav" and grant.status == "active"

"""A person in headless Chromium signs in through the emulator's pages and lands signed in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from connectors.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from gateway import create_app

PUBLIC_URL = "http://127.0.0.1:8000"  # what the other tests' gateway uses

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"


class LateApp:
    """A WSGI app whose target is set after the server has picked its port."""

    target: Any = None
    current: Any = None  # the app last started, for tests that arrange data directly

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.target(environ, start_response)


@pytest.fixture
def live_app(live_gateway: str) -> Any:
    return LateApp.current


@pytest.fixture
def live_gateway(make_env: Any, emulator: Any) -> Iterator[str]:
    late = LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    url = f"http://127.0.0.1:{server.port}"
    callbacks = [
        f"{base}/auth/callback/{name}"
        for base in (url, PUBLIC_URL)
        for name in ("google", "microsoft", "emulator")
    ]
    emulator.client.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, callbacks)
    late.target = LateApp.current = create_app(make_env(GATEWAY_PUBLIC_URL=url))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def page() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        context = browser.new_context(ignore_https_errors=True)  # the emulator's own CA
        yield context.new_page()
        context.close()
        browser.close()


def test_a_person_signs_in_with_google_in_a_browser(live_gateway: str, page: Any) -> None:
    page.goto(live_gateway + "/")
    page.click("#login-google")
    page.check('input[name="account"][value="alice@example.com"]')
    page.click("#allow")
    page.wait_for_url(live_gateway + "/account")
    assert page.inner_text("#user-email") == "alice@example.com"
    assert page.inner_text("#user-name") == "Alice Example"

    page.click("#sign-out")
    page.wait_for_url(live_gateway + "/")
    assert page.is_visible("#login-google")


def test_a_microsoft_form_post_lands_signed_in_with_lax_cookies(
    live_gateway: str, page: Any, emulator: Any
) -> None:
    emulator.client.authorize_next("carol@contoso.example")
    page.goto(live_gateway + "/")
    page.click("#login-microsoft")
    page.wait_for_url(live_gateway + "/account")
    assert page.inner_text("#user-name")


def test_a_host_gives_consent_and_binds_a_room_in_a_browser(
    live_gateway: str, page: Any, live_app: Any
) -> None:
    page.goto(live_gateway + "/")
    page.click("#login-google")
    page.check('input[name="account"][value="alice@example.com"]')
    page.click("#allow")
    page.wait_for_url(live_gateway + "/account")

    page.click("#offer-room-availability-google")
    assert "calendar.freebusy" in page.inner_text("#scopes")
    page.click("#give-consent")
    page.check('input[name="account"][value="alice@example.com"]')
    page.click("#allow")  # every box left ticked
    page.wait_for_url(live_gateway + "/account")
    assert page.is_visible("#withdraw-room-availability-google")

    uid = page.inner_text("#user-id")
    live_app.extensions["gateway"].rooms.create(
        {
            "id": "atlas",
            "name": "Atlas",
            "time_zone": "Europe/Berlin",
            "hours": {"monday": [["08:00", "18:00"]]},
            "host": uid,
        }
    )
    page.goto(live_gateway + "/rooms/connect")
    page.click('#room-atlas button[type="submit"]')
    page.goto(live_gateway + "/account")
    assert "Atlas" in page.inner_text("#binding-atlas")

"""A person in headless Chromium signs in through the emulator's pages and lands signed in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def live(live_gateway_at: Any) -> tuple[str, Any]:
    return live_gateway_at()


@pytest.fixture
def live_gateway(live: tuple[str, Any]) -> str:
    return live[0]


@pytest.fixture
def live_app(live: tuple[str, Any]) -> Any:
    return live[1]


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(ignore_https_errors=True)  # the emulator's own CA
    yield context.new_page()
    context.close()


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
    assert "calendar.events.freebusy" in page.inner_text("#scopes")
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


def test_disconnecting_a_calendar_shows_the_consent_withdrawn_in_a_browser(
    live_gateway: str, page: Any
) -> None:
    page.goto(live_gateway + "/")
    page.click("#login-google")
    page.check('input[name="account"][value="alice@example.com"]')
    page.click("#allow")
    page.wait_for_url(live_gateway + "/account")
    page.click("#offer-room-availability-google")
    page.click("#give-consent")
    page.check('input[name="account"][value="alice@example.com"]')
    page.click("#allow")
    page.wait_for_url(live_gateway + "/account")
    assert page.is_visible("#withdraw-room-availability-google")
    assert "withdraws the consent" in page.inner_text("#disconnect-note")

    page.click('button[id^="disconnect-"]')
    page.click("#confirm")  # the confirmation page
    page.wait_for_url(live_gateway + "/account?done=disconnected")
    assert not page.is_visible("#withdraw-room-availability-google")
    assert not page.is_visible('button[id^="disconnect-"]')
    assert "You disconnected it." in page.inner_text("table.grants")
    assert page.is_visible("text=You have not given any optional consent.")
    page.click("details summary")
    actions = page.locator("#consent-history tbody tr td:nth-child(4)").all_inner_texts()
    assert sorted(actions) == ["given", "withdrawn"]

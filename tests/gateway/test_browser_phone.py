"""At phone width (390 px) no page is wider than the screen: wide tables scroll in their own box."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "phone"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(ignore_https_errors=True, viewport=PHONE)
    yield context.new_page()
    context.close()


def test_the_signed_in_pages_fit_a_phone_screen(live_gateway_at: Any, phone: Any) -> None:
    url, _ = live_gateway_at()
    phone.goto(url + "/")
    phone.click("#login-google")
    phone.check('input[name="account"][value="alice@example.com"]')
    phone.click("#allow")
    phone.wait_for_url(url + "/account")
    phone.click("#offer-room-availability-google")
    phone.click("#give-consent")
    phone.check('input[name="account"][value="alice@example.com"]')
    phone.click("#allow")
    phone.wait_for_url(url + "/account")
    assert phone.locator("table.grants code").count() >= 3  # the long scope URLs are there

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path in ("/account", "/rooms", "/processing-register"):
        phone.goto(url + path)
        phone.screenshot(path=str(ARTIFACTS / f"{path.strip('/')}.png"), full_page=True)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide"

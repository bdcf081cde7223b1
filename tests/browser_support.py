"""What the Chromium tests do again and again: a page of its own, signing in through the
emulator's Google, the host's consent to share free/busy, and screenshots (checked with
axe-core at desktop width, and for sideways overflow at phone width).

The pages come from the `chromium` fixture (tests/conftest.py); every page gets a browser
context of its own, so each person has their own cookies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.journey.accessibility import assert_accessible

WIDTHS = {"desktop": 1280, "phone": 390}
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def new_page(browser: Any, width: int = 1280) -> Any:
    """A page in a browser context of its own, trusting the emulator's own CA."""
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": width, "height": 900}
    )
    return context.new_page()


def sign_in(page: Any, url: str, account: str) -> None:
    """Sign `page` in with the emulator's Google as `account`; it ends on /account."""
    page.goto(url + "/")
    page.click("#login-google")
    page.check(f'input[name="account"][value="{account}"]')
    page.click("#allow")
    page.wait_for_url(url + "/account")


def signed_in(browser: Any, url: str, account: str, width: int = 1280) -> Any:
    """A new page signed in as `account`."""
    page = new_page(browser, width)
    sign_in(page, url, account)
    return page


def share_free_busy(page: Any, url: str, account: str) -> None:
    """The signed-in host lets the gateway read their Google free/busy for rooms."""
    page.click("#offer-room-availability-google")
    page.click("#give-consent")
    page.check(f'input[name="account"][value="{account}"]')
    page.click("#allow")
    page.wait_for_url(url + "/account")


class Screenshots:
    """Full-page screenshots into test-artifacts/<folder>/.

    With a width name ("desktop" or "phone") the file is `<name>-<width>.png`, the page is
    checked with axe-core at desktop width (no serious or critical violation; the markup is
    the same at both widths) and, at phone width, for anything wider than the screen."""

    def __init__(self, folder: str) -> None:
        self.folder = ARTIFACTS / folder

    def __call__(self, page: Any, name: str, width: str | None = None) -> None:
        if width == "desktop":
            assert_accessible(page)
        self.folder.mkdir(parents=True, exist_ok=True)
        filename = f"{name}-{width}.png" if width else f"{name}.png"
        page.screenshot(path=str(self.folder / filename), full_page=True)
        if width == "phone":  # readable at 390 px: nothing sticks out sideways
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= WIDTHS["phone"], name

"""/api in headless Chromium: Swagger UI draws the OpenAPI document under the page's CSP.

The page runs the vendored Swagger UI and its starter from the gateway's static folder and
nothing else; a `securitypolicyviolation` listener (added before any page script) and the
console catch anything the policy refuses and any script error. Screenshots at 1280 and
390 px go to test-artifacts/api-docs/; axe-core finds no serious or critical violation with
every operation and schema open. Without JavaScript the server-rendered reference is what
a reader gets, with no raw markdown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.journey.accessibility import blocking_violations

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "api-docs"
WIDTHS = {"desktop": 1280, "phone": 390}
# Runs in every page before its own scripts; the page's CSP does not apply to it.
LISTEN_FOR_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture
def live(live_gateway_at: Any) -> str:
    url, _ = live_gateway_at()
    return str(url)


class Watched:
    """A page, with the errors its console reported and the CSP violations it saw."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: Any) -> None:
        # Chromium asks every origin for /favicon.ico, which the gateway does not serve
        # (no page names one); that 404 is the browser's, not the page's.
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            self.errors.append(message.text)

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations")
        return found


@pytest.fixture
def watched(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Watched]:
    context = chromium.new_context(
        ignore_https_errors=True, viewport={"width": WIDTHS[request.param], "height": 900}
    )
    context.add_init_script(LISTEN_FOR_VIOLATIONS)
    yield Watched(context.new_page())
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("watched", list(WIDTHS), indirect=True)
def test_swagger_ui_draws_every_operation_and_opens_one_with_no_csp_violation(
    live: str, watched: Watched, request: pytest.FixtureRequest
) -> None:
    width = request.node.callspec.params["watched"]
    page = watched.page
    document = page.request.get(live + "/openapi.json").json()
    operations = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    # the change feed's events (OpenAPI 3.1 webhooks): Swagger UI draws them by name
    operations |= {(m.upper(), n) for n, item in document["webhooks"].items() for m in item}

    page.goto(live + "/")  # a member signs in (emulated provider)
    page.click("#login-google")
    page.check('input[name="account"][value="bob@example.com"]')
    page.click("#allow")
    page.wait_for_url(live + "/account")

    page.goto(live + "/api")
    page.wait_for_selector(".swagger-ui .opblock")
    drawn = {
        (
            block.locator(".opblock-summary-method").inner_text(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.locator(".swagger-ui .opblock-summary").all()
    }
    assert drawn == operations
    assert page.locator("#api-reference").is_hidden()  # said once, by Swagger UI
    shot(page, f"01-operations-{width}")

    # one operation opened: its examples, and its example sent from the page itself on the
    # member's session (connect-src 'self'; the starter adds the session's CSRF header)
    search = page.locator("#operations-rooms-api_v1_search_rooms")
    search.locator(".opblock-summary-control").click()
    search.locator(".opblock-body").wait_for()
    assert '"timeZone": "Europe/Brussels"' in search.locator(".responses-table").inner_text()
    search.locator("button.try-out__btn").click()
    search.locator("button.execute").click()
    answered = search.locator(".live-responses-table td.response-col_status:not(.col_header)")
    answered.wait_for()
    assert answered.inner_text().strip() == "200"
    shot(page, f"02-search-tried-{width}")

    if width == "desktop":  # the Authorize dialog, then every operation and schema open
        page.click(".swagger-ui .btn.authorize")
        page.wait_for_selector(".swagger-ui .modal-ux")
        assert blocking_violations(page) == []
        shot(page, "03-authorize-desktop")
        page.click(".swagger-ui .modal-ux button.close-modal")
        closed = page.locator(".opblock-summary-control[aria-expanded=false]")
        for _ in operations:
            if closed.count():
                closed.first.click()
        for control in page.locator(".models .json-schema-2020-12-accordion").all():
            control.click()
        assert page.locator(".opblock-body").count() == len(operations)
        assert blocking_violations(page) == []
    else:  # nothing wider than a phone's screen
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"]
    assert watched.violations() == []
    assert watched.errors == []


def test_without_javascript_the_reference_is_readable(live: str, chromium: Any) -> None:
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live + "/api")
    assert page.locator("#api-reference").is_visible()
    assert page.get_attribute("#openapi-document", "href") == "/openapi.json"
    text = page.inner_text("main")
    assert "`" not in text  # the document's code spans are set as code
    assert page.locator("#api-reference p code", has_text="duration").count() > 0
    shot(page, "04-without-javascript-desktop")
    context.close()

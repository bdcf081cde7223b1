"""The record of processing: the JSON shape programs rely on, and the public page."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import TypeAdapter

from gateway.blueprints.register import duration, register
from gateway.services.retention import Limits
from scopes import LEGAL_BASES, load_catalogue, processing_register

ISO_DURATION = r"^P(\d+Y)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$"


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    """A client for an app with the register blueprint, whether app.py registers it or not."""
    if "register" not in app.blueprints:
        app.register_blueprint(register)
    return app.test_client()


class Outline(HTMLParser):
    """Headings, ids, links and what a page loads, to check structure without a browser."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.loads: list[str] = []
        self.table_headers: list[dict[str, str | None]] = []
        self.code: list[str] = []
        self._code: list[str] | None = None
        self._heading: str | None = None
        self._text: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang")
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading, self._text = tag, []
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if tag in ("script", "img", "iframe", "object", "embed"):
            self.loads.append(f"{tag} {found.get('src')}")
        if tag == "link":
            self.loads.append(str(found.get("href")))
        if tag == "th":
            self.table_headers.append(found)
        if tag == "code":
            self._code = []

    def handle_data(self, data: str) -> None:
        if self._heading:
            self._text.append(data)
        if self._code is not None:
            self._code.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._code is not None:
            self.code.append("".join(self._code))
            self._code = None
        if tag == self._heading:
            self.headings.append((tag, " ".join("".join(self._text).split())))
            self._heading = None


def outline(html: str) -> Outline:
    parsed = Outline()
    parsed.feed(html)
    return parsed


def test_json_register_lists_every_purpose_with_its_facts(browser: FlaskClient) -> None:
    response = browser.get("/v1/processing-register")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    body: dict[str, Any] = response.get_json()
    catalogue = load_catalogue()

    assert body["catalogue_version"] == catalogue.version
    assert set(body["legal_bases"]) == set(LEGAL_BASES)
    assert [p["id"] for p in body["purposes"]] == [p.id for p in catalogue.purposes]
    assert [o["id"] for o in body["operations"]] == [o.id for o in catalogue.operations]
    categories = {c["id"]: c for c in body["data_categories"]}
    for activity in body["purposes"] + body["operations"]:
        assert activity["legal_basis"] in body["legal_bases"]
        assert activity["recipients"] and all(
            set(r) == {"who", "sees"} for r in activity["recipients"]
        )
        assert activity["data_categories"]
        assert set(activity["data_categories"]) <= set(categories)
    for category in categories.values():
        assert category["retention"]["text"]


def test_json_register_says_what_room_availability_asks_for(browser: FlaskClient) -> None:
    body = browser.get("/v1/processing-register").get_json()
    purpose = next(p for p in body["purposes"] if p["id"] == "room-availability")
    assert purpose["legal_basis"] == "consent"
    assert purpose["optional"] is True
    assert purpose["scopes"] == {
        "google": ["https://www.googleapis.com/auth/calendar.events.freebusy"],
        "microsoft": ["Calendars.Read", "offline_access"],
        "caldav": ["caldav:free-busy"],
        "ics": ["ics:feed"],
    }
    assert purpose["consent"]["version"]
    assert len(purpose["consent"]["sha256"]) == 64
    busy = next(c for c in body["data_categories"] if c["id"] == "busy-times")
    assert busy["retention"]["max_age"] == "PT1H"
    assert "withdrawal" in busy["retention"]["until"]


def test_durations_are_iso_8601(browser: FlaskClient) -> None:
    body = browser.get("/v1/processing-register").get_json()
    for category in body["data_categories"]:
        for name in ("max_age", "idle", "keep_after_end"):
            value = category["retention"][name]
            assert value is None or re.match(ISO_DURATION, value), (category["id"], value)


def test_page_lists_every_purpose_and_operation(browser: FlaskClient) -> None:
    response = browser.get("/processing-register")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    page = outline(html)
    catalogue = load_catalogue()

    assert ("h1", "Record of processing") in page.headings
    for purpose in catalogue.purposes:
        assert ("h3", purpose.title) in page.headings
        assert f"purpose-{purpose.id}" in page.ids
        assert f"#purpose-{purpose.id}" in page.links
        for kind in purpose.providers:
            for entry in purpose.scopes[kind]:
                assert entry.scope in page.code
                assert entry.source in page.links
    for operation in catalogue.operations:
        assert ("h3", operation.title) in page.headings
    for category in catalogue.data_categories:
        assert category.title in html
    assert "never event details" in html
    assert "/v1/processing-register" in page.links


def test_page_is_accessible_and_loads_nothing_from_elsewhere(browser: FlaskClient) -> None:
    page = outline(browser.get("/processing-register").get_data(as_text=True))
    assert page.lang == "en"
    assert [tag for tag, _ in page.headings].count("h1") == 1
    levels = [int(tag[1]) for tag, _ in page.headings]
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
    assert page.loads == ["/static/style.css"]
    assert page.table_headers and all(
        th.get("scope") in ("col", "row") for th in page.table_headers
    )


def test_register_needs_no_sign_in_and_has_no_error_for_json_clients(
    browser: FlaskClient,
) -> None:
    assert browser.get("/processing-register", headers={"Accept": "text/html"}).status_code == 200
    assert browser.post("/v1/processing-register").status_code == 405
    assert browser.post("/v1/processing-register").get_json()["error"] == "method_not_allowed"


def test_the_register_states_the_durations_and_audit_events_the_code_uses(
    browser: FlaskClient,
) -> None:
    """What the retention sweep and the audit trail run on is what the register says."""
    body = browser.get("/v1/processing-register").get_json()
    catalogue = load_catalogue()
    assert body == processing_register(catalogue)
    retention = {c["id"]: c["retention"] for c in body["data_categories"]}
    read = TypeAdapter(timedelta).validate_python
    limits = Limits.of(catalogue)
    assert read(retention["calendar-grant"]["idle"]).total_seconds() == limits.grant_idle
    assert read(retention["audit-event"]["max_age"]).total_seconds() == limits.audit_keep
    kept = read(retention["consent-record"]["keep_after_end"]).total_seconds()
    assert kept == limits.consent_records_keep
    assert {e["id"] for e in body["audit_events"]} == browser.application.extensions[
        "gateway"
    ].audit.actions


def test_the_page_writes_out_every_retention_limit_and_audit_event(browser: FlaskClient) -> None:
    html = browser.get("/processing-register").get_data(as_text=True)
    page = outline(html)
    catalogue = load_catalogue()
    assert ("h2", "What the audit trail records") in page.headings
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "an id used twice"
    for event in catalogue.audit_events:
        assert f"audit-{event.id}" in page.ids and event.id in page.code
    for category in catalogue.data_categories:
        found = re.search(
            rf'<ul class="retention-limits" data-category="{category.id}">(.*?)</ul>', html, re.S
        )
        assert found, category.id
        shown = " ".join(found.group(1).split())
        limits = category.retention
        if limits.max_age:
            assert f"Deleted at most {duration(limits.max_age)} after it is written" in shown
        if limits.idle:
            assert f"Deleted {duration(limits.idle)} after it was last used" in shown
        if limits.keep_after_end:
            assert f"Deleted {duration(limits.keep_after_end)} after " in shown
    assert "Deleted 180 days after it was last used" in html  # the idle revocation of grants
    assert "Deleted 1095 days after withdrawal or revocation" in html  # consent records


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=1), "1 hour"),
        (timedelta(minutes=10), "10 minutes"),
        (timedelta(days=180), "180 days"),
        (timedelta(seconds=90), "90 seconds"),
    ],
)
def test_durations_read_as_words(value: timedelta, text: str) -> None:
    assert duration(value) == text

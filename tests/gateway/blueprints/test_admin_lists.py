"""The admin lists in the browser: rooms, people, API clients and grants, searched and paged;
only for admins; a person whose name a list shows is told so in the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connectors.errors import ScopeRefused
from gateway.services.admin_directory import PAGE_SIZE
from gateway.services.room_status import NEEDS_RECONNECT, RESTRICTED, WORDS
from tests.conftest import SignIn
from tests.gateway.blueprints.admin_pages import (
    ALICE,
    BOB,
    XSS,
    alice,
    bob,
    element,
    gateway_env,
    href_of,
    row_ids,
    services_of,
    text_of,
)
from tests.hosts import Hosts

__all__ = ["alice", "bob", "gateway_env"]  # the fixtures these tests use

# The lists walk every user and grant (SCAN): on a single server and on a cluster.
pytestmark = pytest.mark.redis_deployments

LISTS = ("/admin/rooms", "/admin/people", "/admin/clients", "/admin/grants")


def room(app: Flask, room_id: str, **extra: Any) -> None:
    services_of(app).rooms.create(
        {"id": room_id, "name": room_id.title(), "time_zone": "Europe/London", **extra}
    )


# -- who may ----------------------------------------------------------------------------------
def test_without_a_session_every_list_is_401(app: Flask) -> None:
    anonymous = app.test_client()
    for path in LISTS:
        assert anonymous.get(path).status_code == 401, path


def test_a_member_who_is_not_an_admin_gets_403_and_no_admin_link(
    alice: tuple[FlaskClient, str],
) -> None:
    browser, _ = alice
    for path in LISTS:
        refused = browser.get(path)
        assert refused.status_code == 403, path
        assert "This needs an administrator." in text_of(refused)
    assert 'id="admin-link"' not in text_of(browser.get("/account"))


def test_an_admin_sees_the_admin_link_on_every_page(client: FlaskClient, bob: str) -> None:
    for path in ("/account", "/rooms", "/admin/people"):
        page = text_of(client.get(path))
        assert '<a href="/admin" id="admin-link">Admin</a>' in page, path


# -- rooms ------------------------------------------------------------------------------------
def test_the_rooms_list_is_searched_by_substring_and_paged(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    for n in range(PAGE_SIZE + 5):
        room(app, f"room-{n:02d}", location="London" if n % 2 else "Brussels, 3rd floor")
    room(app, "atlas", location="Brussels", equipment=["Projector"])

    first = text_of(client.get("/admin/rooms"))
    assert row_ids(first, "room")[:2] == ["atlas", "room-00"]  # by name
    assert len(row_ids(first, "room")) == PAGE_SIZE
    assert "31 found; page 1 of 2" in element(first, "page-count")
    assert href_of(first, "previous-page") is None
    assert href_of(first, "next-page") == "/admin/rooms?page=2"
    second = text_of(client.get("/admin/rooms?page=2"))
    assert len(row_ids(second, "room")) == 6 and href_of(second, "next-page") is None
    assert href_of(second, "previous-page") == "/admin/rooms?page=1"

    found = text_of(client.get("/admin/rooms", query_string={"q": "  brussels "}))
    assert len(row_ids(found, "room")) == 16  # case and spaces aside; 15 + atlas
    # the search is kept from page to page
    assert href_of(found, "next-page") is None and "16 found" in element(found, "page-count")
    numbered = text_of(client.get("/admin/rooms?q=room-"))
    assert href_of(numbered, "next-page") == "/admin/rooms?q=room-&page=2"
    london = text_of(client.get("/admin/rooms?q=london"))
    assert "15 found" in element(london, "page-count") and href_of(london, "next-page") is None
    by_equipment = text_of(client.get("/admin/rooms?q=PROJECTOR"))
    assert row_ids(by_equipment, "room") == ["atlas"]
    none = text_of(client.get("/admin/rooms?q=nowhere"))
    assert "No room matches this search." in none


def test_the_rooms_list_names_the_host_and_the_calendar_state(
    app: Flask, client: FlaskClient, bob: str, alice: tuple[FlaskClient, str]
) -> None:
    _, alice_id = alice
    room(app, "atlas", host=alice_id)
    page = text_of(client.get("/admin/rooms"))
    row = element(page, "room-atlas")
    assert "Alice Example" in row and "No calendar connected" in row
    # being shown as a host is an access to Alice's name: her audit records say so
    trail = services_of(app).audit
    assert [e.action for e in trail.entries(subject=alice_id, action="user.list")] == ["user.list"]


def test_the_rooms_list_says_when_the_host_paused_processing_or_must_reconnect(
    app: Flask, client: FlaskClient, bob: str, sign_in: SignIn, another_browser: Any
) -> None:
    hosts = Hosts(app, sign_in, another_browser)
    paused, paused_grant = hosts.host("google", ALICE)
    lapsed, lapsed_grant = hosts.host("microsoft")
    hosts.room("paused", paused, paused_grant)
    hosts.room("lapsed", lapsed, lapsed_grant)
    hosts.room("fine", *hosts.host("google", BOB))
    services_of(app).privacy.restrict(paused, True, actor=paused)
    services_of(app).grants.refused(lapsed, lapsed_grant, ScopeRefused("no calendar scope"))

    page = text_of(client.get("/admin/rooms"))
    # the words every page and the API's documentation use for these statuses
    for room_id, status in (("paused", RESTRICTED), ("lapsed", NEEDS_RECONNECT)):
        row = " ".join(element(page, f"room-{room_id}").split())
        label, meaning = WORDS[status]
        assert label in row and meaning in row, row
    assert "Connected" in element(page, "room-fine")


@pytest.mark.parametrize("page", ["0", "-1", "x", "1.5", "100001"])
def test_a_page_number_that_is_not_one_is_a_400(client: FlaskClient, bob: str, page: str) -> None:
    for path in LISTS:
        refused = client.get(path, query_string={"page": page})
        assert refused.status_code == 400, path
        assert "The page is a whole number" in text_of(refused)


def test_a_search_too_long_is_a_400_and_past_the_last_page_shows_the_last(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    room(app, "atlas")
    refused = client.get("/admin/rooms", query_string={"q": "x" * 101})
    assert refused.status_code == 400 and "Keep the search under 100" in text_of(refused)
    assert row_ids(text_of(client.get("/admin/rooms?page=9")), "room") == ["atlas"]


def test_a_search_is_shown_escaped(client: FlaskClient, bob: str) -> None:
    page = text_of(client.get("/admin/rooms", query_string={"q": XSS[:90]}))
    assert "<script>" not in page and "&lt;script&gt;" in page


# -- people -----------------------------------------------------------------------------------
def test_people_are_found_by_name_or_e_mail_and_each_shown_is_audited(
    app: Flask, client: FlaskClient, bob: str, alice: tuple[FlaskClient, str]
) -> None:
    _, alice_id = alice
    everyone = text_of(client.get("/admin/people"))
    assert set(row_ids(everyone, "person")) == {alice_id, bob}
    row = element(everyone, f"person-{alice_id}")
    assert "Alice Example" in row and ALICE in row and "Google" in row

    by_mail = text_of(client.get("/admin/people?q=ALICE@EXAMPLE"))
    assert row_ids(by_mail, "person") == [alice_id]
    by_name = text_of(client.get("/admin/people?q=bob ex"))
    assert row_ids(by_name, "person") == [bob]

    trail = services_of(app).audit
    shown = trail.entries(subject=alice_id, action="user.list")
    assert len(shown) == 2  # the whole list, then the search for her; not Bob's search
    assert {trail.pseudonym(bob)} == {e.actor for e in shown}


def test_a_name_that_is_markup_is_shown_as_text(
    app: Flask, client: FlaskClient, bob: str, emulator: Any, another_browser: Any
) -> None:
    emulator.client.add_account("mallet@example.com", XSS, "google")
    another_browser().complete("google", "mallet@example.com")
    page = text_of(client.get("/admin/people"))
    assert XSS not in page and "&lt;script&gt;alert(" in page


# -- API clients and grants -------------------------------------------------------------------
def test_api_clients_are_listed_newest_first_and_searched(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    clients = services_of(app).clients
    old, _ = clients.create("Booking frontend", audiences=["booking"])
    new, _ = clients.create("Signage", audiences=["lobby"])
    page = text_of(client.get("/admin/clients"))
    assert row_ids(page, "client") == [new.id, old.id]
    assert "booking" in element(page, f"client-{old.id}")
    assert row_ids(text_of(client.get("/admin/clients?q=LOBBY")), "client") == [new.id]


def test_grants_are_listed_by_state(
    app: Flask, client: FlaskClient, bob: str, alice: tuple[FlaskClient, str], emulator: Any
) -> None:
    _, alice_id = alice
    found = services_of(app)
    gid = _room_grant(app, alice_id, emulator)
    active = text_of(client.get("/admin/grants?state=active"))
    assert row_ids(active, "grant") == [gid]
    found.revocation.revoke_grant(alice_id, gid, reason="a test", actor=bob)
    assert row_ids(text_of(client.get("/admin/grants")), "grant") == []
    revoked = text_of(client.get("/admin/grants?state=revoked"))
    assert row_ids(revoked, "grant") == [gid] and "a test" in element(revoked, f"grant-{gid}")
    assert row_ids(text_of(client.get("/admin/grants?state=revoked&q=nothing")), "grant") == []
    refused = client.get("/admin/grants?state=everything")
    assert refused.status_code == 400 and "The state is one of" in text_of(refused)


def _room_grant(app: Flask, uid: str, emulator: Any) -> str:
    """A room-availability grant of Alice's Google account, made as the consent flow does."""
    found = services_of(app)
    connector = found.signin.connectors["google"]
    redirect_uri = found.settings.redirect_uri("google")
    scope = "https://www.googleapis.com/auth/calendar.freebusy"
    started = connector.begin(redirect_uri, "s-grants-list", (scope,))
    emulator.client.authorize_next(ALICE)
    driver = SignIn(app.test_client(), emulator)
    _, params = driver.at_provider(started.url)
    identity = connector.complete(redirect_uri, started.flow, params)
    return str(found.grants.create(uid, "room-availability", identity).id)

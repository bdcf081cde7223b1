"""The admin console: only admins, CSRF on every form, a reason the user reads, and receipts."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.blueprints.admin import admin
from gateway.storage.grants import ACTIVE, REVOKED

# The sign-in, free/busy and revocation suites hold on a single server and on a cluster.
pytestmark = pytest.mark.redis_deployments

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@contoso.example"
SCOPES = {"google": "https://www.googleapis.com/auth/calendar.freebusy"}
SCOPES["microsoft"] = "Calendars.ReadBasic"
DAY = {"timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
REASON = "Your calendar connection was ended by an administrator: security review #42."


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], emulator: Any) -> dict[str, str]:
    """The shared settings, with Bob (by his stable emulator subject) as the admin."""
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == BOB)
    return {**gateway_env, "GATEWAY_ADMINS": f"google:{subject}"}


@pytest.fixture(autouse=True)
def wired(app: Flask) -> Flask:
    """Until app.py registers it (Flask refuses blueprints after the first request)."""
    if "admin" not in app.blueprints:
        app.register_blueprint(admin)
    return app


def csrf_token(client: FlaskClient) -> str:
    found = TOKEN.search(client.get("/account").get_data(as_text=True))
    assert found, "no CSRF token on the account page"
    return found.group(1)


class Host:
    """A signed-in user (their own browser) with a room-availability grant behind a room."""

    def __init__(self, app: Flask, browser: Any, provider: str, account: str) -> None:
        self.app, self.browser, self.client = app, browser, browser.client
        self.services = app.extensions["gateway"]
        browser.complete(provider, account)
        self.uid: str = self.client.get("/v1/me").get_json()["id"]
        connector = self.services.signin.connectors[provider]
        redirect_uri = self.services.settings.redirect_uri(provider)
        started = connector.begin(redirect_uri, f"a-{time.monotonic_ns()}", (SCOPES[provider],))
        browser.emulator.client.authorize_next(account)
        _, params = browser.at_provider(started.url)
        identity = connector.complete(redirect_uri, started.flow, params)
        self.gid: str = self.services.grants.create(self.uid, "room-availability", identity).id

    def room(self, room_id: str) -> str:
        self.services.rooms.create(
            {
                "id": room_id,
                "name": room_id.title(),
                "time_zone": "UTC",
                "host": self.uid,
                "visibility": ["members"],
                "hours": {"wednesday": [["08:00", "18:00"]]},
            }
        )
        self.services.rooms.bind(self.uid, room_id, self.gid)
        return room_id

    def grant(self) -> Any:
        return self.services.grants.get(self.uid, self.gid)

    def account_page(self) -> str:
        return str(self.client.get("/account").get_data(as_text=True))


@pytest.fixture
def alice(app: Flask, another_browser: Any) -> Host:
    host = Host(app, another_browser(), "google", ALICE)
    host.room("atlas")
    host.browser.emulator.client.add_event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    return host


@pytest.fixture
def bob(sign_in: Any, client: FlaskClient) -> str:
    """Bob, the admin, signed in with the `client` fixture."""
    sign_in.complete("google", BOB)
    return str(client.get("/v1/me").get_json()["id"])


def freebusy(client: FlaskClient, room_id: str) -> dict[str, Any]:
    """The room's free/busy as a signed-in member asks the JSON API for it."""
    answer = client.post(
        "/v1/freebusy",
        json={"rooms": [room_id], **DAY},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["rooms"][room_id]  # type: ignore[no-any-return]


def receipts_of(page: str) -> list[dict[str, Any]]:
    found = re.findall(r'<pre class="receipt" id="receipt-\d+">(.*?)</pre>', page, re.S)
    return [json.loads(_unescape(r)) for r in found]


def receipt_words(page: str, receipt_id: str) -> str:
    """The words of a receipt's card (its article), tags and spacing aside."""
    card = rf'<article[^>]*\bid="receipt-{re.escape(receipt_id)}"[^>]*>(.*?)</article>'
    found = re.search(card, page, re.S)
    assert found, f"no card for receipt {receipt_id}"
    return " ".join(_unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def _unescape(text: str) -> str:
    for escaped, plain in (("&#34;", '"'), ("&#39;", "'"), ("&lt;", "<"), ("&gt;", ">")):
        text = text.replace(escaped, plain)
    return text.replace("&amp;", "&")


def forms(alice: Host) -> list[tuple[str, dict[str, str]]]:
    """Every admin POST, each with a reason (and a confirmation where one is asked)."""
    return [
        (f"/admin/users/{alice.uid}/grants/{alice.gid}/revoke", {"reason": REASON}),
        (f"/admin/users/{alice.uid}/revoke", {"reason": REASON}),
        ("/admin/rooms/atlas/revoke", {"reason": REASON}),
        ("/admin/providers/google/revoke", {"reason": REASON, "confirm": "google"}),
    ]


# -- who may ----------------------------------------------------------------------------------
def test_without_a_session_every_admin_page_is_401(app: Flask, alice: Host) -> None:
    anonymous = app.test_client()
    for path in ("/admin", f"/admin/users/{alice.uid}", "/admin/rooms/atlas", "/admin/audit"):
        assert anonymous.get(path).status_code == 401, path
    app.config["WTF_CSRF_ENABLED"] = False  # reach the guard itself, behind the CSRF check
    for path, data in forms(alice):
        assert anonymous.post(path, data=data).status_code == 401, path
    assert alice.grant().status == ACTIVE


def test_a_user_who_is_not_an_admin_gets_403_and_revokes_nothing(alice: Host) -> None:
    token = csrf_token(alice.client)
    for path in ("/admin", f"/admin/users/{alice.uid}", "/admin/rooms/atlas", "/admin/audit"):
        assert alice.client.get(path).status_code == 403, path
    for path, data in forms(alice):
        refused = alice.client.post(path, data={**data, "csrf_token": token})
        assert refused.status_code == 403, path
        assert "This needs an administrator." in refused.get_data(as_text=True)
    assert alice.grant().status == ACTIVE


def test_every_form_needs_the_csrf_token(client: FlaskClient, bob: str, alice: Host) -> None:
    for path, data in forms(alice):
        for token in ({}, {"csrf_token": "forged"}):
            refused = client.post(path, data={**data, **token})
            assert refused.status_code == 400, path
            assert "did not come from this site" in refused.get_data(as_text=True)
    assert alice.grant().status == ACTIVE


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_revocation_without_a_reason_is_refused(
    client: FlaskClient, bob: str, alice: Host, reason: str | None
) -> None:
    token = csrf_token(client)
    for path, data in forms(alice):
        sent = {**data, "csrf_token": token}
        if reason is None:
            del sent["reason"]
        else:
            sent["reason"] = reason
        refused = client.post(path, data=sent)
        assert refused.status_code == 400, path
        assert "Give a reason" in refused.get_data(as_text=True)
    assert alice.grant().status == ACTIVE
    assert freebusy(client, "atlas")["status"] == "ok"


# -- revoking ---------------------------------------------------------------------------------
def test_an_admin_revokes_a_grant_and_the_user_reads_the_reason(
    app: Flask, client: FlaskClient, bob: str, alice: Host
) -> None:
    assert freebusy(client, "atlas")["busy"] == [
        {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"}
    ]
    page = client.get(f"/admin/users/{alice.uid}").get_data(as_text=True)
    assert f'id="grant-{alice.gid}"' in page and 'id="binding-atlas"' in page
    assert "Alice Example" in page and ALICE not in page  # no e-mail in the console

    done = client.post(
        f"/admin/users/{alice.uid}/grants/{alice.gid}/revoke",
        data={"reason": f"  {REASON}  ", "csrf_token": csrf_token(client)},
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    (receipt,) = receipts_of(done.get_data(as_text=True))
    signer = app.extensions["gateway"].revocation.signer
    assert signer.verify(receipt)["grant"] == alice.gid
    assert receipt["reason"] == REASON and receipt["deleted"]["bindings"] == 1
    # in words first, as the person reads it on their account page; the JSON behind it
    page = done.get_data(as_text=True)
    words = receipt_words(page, receipt["receipt"])
    assert "Calendar access ended" in words and "1 room connection removed" in words
    assert "UTC" in words and REASON in words and "Ed25519" in words
    assert '<details class="receipt-document" id="receipt-document-1">' in page

    assert alice.grant().status == REVOKED and alice.grant().reason == REASON
    assert REASON in alice.account_page()
    assert freebusy(client, "atlas") == {
        "busy": [],
        "status": "unbound",
        "stale": False,
        "asOf": None,
    }
    trail = app.extensions["gateway"].audit
    (entry,) = trail.entries(subject=alice.uid, action="grant.revoke")
    assert entry.actor == trail.pseudonym(bob)  # the admin's uid, pseudonymised
    again = client.get(f"/admin/users/{alice.uid}").get_data(as_text=True)
    assert f'id="revoke-{alice.gid}"' not in again  # nothing left to revoke


def test_revoking_by_room_ends_the_grant_behind_it(
    client: FlaskClient, bob: str, alice: Host
) -> None:
    page = client.get("/admin/rooms/atlas").get_data(as_text=True)
    assert alice.gid in page and 'id="revoke-room"' in page
    done = client.post(
        "/admin/rooms/atlas/revoke", data={"reason": REASON, "csrf_token": csrf_token(client)}
    )
    assert done.status_code == 200
    assert receipts_of(done.get_data(as_text=True))[0]["grant"] == alice.gid
    assert alice.grant().status == REVOKED
    assert alice.services.rooms.bindings_of(alice.uid) == []
    assert freebusy(client, "atlas")["status"] == "unbound"
    assert 'id="unbound"' in client.get("/admin/rooms/atlas").get_data(as_text=True)
    assert REASON in alice.account_page()

    again = client.post(
        "/admin/rooms/atlas/revoke", data={"reason": REASON, "csrf_token": csrf_token(client)}
    )
    assert again.status_code == 409
    assert client.get("/admin/rooms/nowhere").status_code == 404


def test_a_room_backed_by_two_grants_shows_both_and_revokes_the_one_named(
    app: Flask, client: FlaskClient, bob: str, alice: Host
) -> None:
    """Alice backs Atlas by her Google calendar and by a Microsoft account's: the admin
    page lists both calendars and offers each grant's revocation; ending one keeps the other."""
    services = alice.services
    connector = services.signin.connectors["microsoft"]
    redirect_uri = services.settings.redirect_uri("microsoft")
    started = connector.begin(redirect_uri, "second", (SCOPES["microsoft"],))
    alice.browser.emulator.client.authorize_next(CAROL)
    _, params = alice.browser.at_provider(started.url)
    identity = connector.complete(redirect_uri, started.flow, params)
    second = services.grants.create(alice.uid, "room-availability", identity).id
    services.rooms.add_calendar(alice.uid, "atlas", second)

    page = client.get("/admin/rooms/atlas").get_data(as_text=True)
    assert 'id="calendar-1"' in page and 'id="calendar-2"' in page
    assert alice.gid in page and second in page
    assert f'id="revoke-room-{second}"' in page and 'id="revoke-room"' in page
    token = csrf_token(client)
    stranger = client.post(
        "/admin/rooms/atlas/revoke",
        data={"reason": REASON, "grant": "not-behind-atlas", "csrf_token": token},
    )
    assert stranger.status_code == 400
    assert services.grants.get(alice.uid, second).status == ACTIVE

    done = client.post(
        "/admin/rooms/atlas/revoke", data={"reason": REASON, "grant": second, "csrf_token": token}
    )
    assert done.status_code == 200
    assert receipts_of(done.get_data(as_text=True))[0]["grant"] == second
    assert services.grants.get(alice.uid, second).status == REVOKED
    assert alice.grant().status == ACTIVE
    (left,) = services.rooms.bindings("atlas")
    assert left.gid == alice.gid
    assert freebusy(client, "atlas")["status"] == "ok"


def test_revoking_a_provider_needs_its_name_typed_and_spares_the_others(
    app: Flask, client: FlaskClient, bob: str, alice: Host, another_browser: Any
) -> None:
    carol = Host(app, another_browser(), "microsoft", CAROL)
    carol.room("borealis")
    token = csrf_token(client)
    for typed in ("", "Google", "microsoft"):
        refused = client.post(
            "/admin/providers/google/revoke",
            data={"reason": REASON, "confirm": typed, "csrf_token": token},
        )
        assert refused.status_code == 400
        assert "to confirm" in refused.get_data(as_text=True)
    assert alice.grant().status == ACTIVE

    done = client.post(
        "/admin/providers/google/revoke",
        data={"reason": REASON, "confirm": "google", "csrf_token": token},
    )
    assert done.status_code == 200
    page = done.get_data(as_text=True)
    assert "1 grant(s) of google revoked" in page
    assert [r["grant"] for r in receipts_of(page)] == [alice.gid]
    assert alice.grant().status == REVOKED and REASON in alice.account_page()
    assert alice.services.rooms.bindings_of(alice.uid) == []
    assert freebusy(client, "atlas")["status"] == "unbound"
    assert carol.grant().status == ACTIVE
    assert alice.services.rooms.binding("borealis") is not None


def test_revoking_everything_of_a_user_can_sign_them_out(
    client: FlaskClient, bob: str, alice: Host
) -> None:
    done = client.post(
        f"/admin/users/{alice.uid}/revoke",
        data={"reason": REASON, "end_sessions": "1", "csrf_token": csrf_token(client)},
    )
    assert done.status_code == 200
    assert len(receipts_of(done.get_data(as_text=True))) == 1
    assert alice.grant().status == REVOKED and alice.grant().reason == REASON
    assert alice.client.get("/v1/me").status_code == 401  # signed out everywhere
    assert client.get("/v1/me").status_code == 200  # the admin is not
    trail = alice.services.audit
    (ended,) = trail.entries(subject=alice.uid, action="sessions.end")
    assert ended.actor == trail.pseudonym(bob) and ended.detail == {"sessions": 1}


def test_unknown_users_and_grants_are_404(client: FlaskClient, bob: str, alice: Host) -> None:
    token = csrf_token(client)
    assert client.get("/admin/users/nobody").status_code == 404
    assert client.get("/admin/users/no%20body").status_code == 404
    for path in (f"/admin/users/{alice.uid}/grants/nothing/revoke", "/admin/users/nobody/revoke"):
        assert client.post(path, data={"reason": REASON, "csrf_token": token}).status_code == 404


# -- finding things ---------------------------------------------------------------------------
def test_the_console_finds_users_and_rooms_and_shows_the_key_ring(
    app: Flask, client: FlaskClient, bob: str, alice: Host, emulator: Any
) -> None:
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == ALICE)
    for query, where in (
        ({"uid": alice.uid}, f"/admin/users/{alice.uid}"),
        ({"provider": "google", "subject": subject}, f"/admin/users/{alice.uid}"),
        ({"room": "atlas"}, "/admin/rooms/atlas"),
    ):
        found = client.get("/admin", query_string=query)
        assert found.status_code == 303 and found.headers["Location"] == where
    for query in ({"uid": "nobody"}, {"provider": "google", "subject": "0"}, {"room": "x"}):
        missing = client.get("/admin", query_string=query)
        assert missing.status_code == 404 and 'id="notice"' in missing.get_data(as_text=True)

    page = client.get("/admin").get_data(as_text=True)
    version = app.extensions["gateway"].settings.keyring.newest
    row = re.search(rf'<tr id="key-{version}">(.*?)</tr>', page, re.S)
    # 2 users, 1 grant and the stable secrets (storage/stable_secrets.py)
    assert row and "<td>4</td>" in row.group(1) and "newest" in row.group(1)
    assert 'href="/admin/audit"' in page and 'id="revoke-provider-google"' in page


# -- the audit trail --------------------------------------------------------------------------
def test_the_audit_page_lists_revocations_by_pseudonym_only(
    app: Flask, client: FlaskClient, bob: str, alice: Host
) -> None:
    token = csrf_token(client)
    client.post("/admin/rooms/atlas/revoke", data={"reason": REASON, "csrf_token": token})
    trail = app.extensions["gateway"].audit
    trail.record(actor=bob, action="sessions.end", subject=alice.uid)
    stored = trail.entries()

    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.count('class="entry"') == len(stored)
    assert page.index("sessions.end") < page.index("grant.revoke")  # newest first
    assert trail.pseudonym(alice.uid) in page and trail.pseudonym(bob) in page
    for personal in (alice.uid, bob, ALICE, BOB, "Alice Example", REASON):
        assert personal not in page

    only = client.get("/admin/audit", query_string={"action": "grant.revoke"})
    assert only.get_data(as_text=True).count('class="entry"') == 1
    about_alice = trail.entries(subject=alice.uid)
    by_user = client.get("/admin/audit", query_string={"user": alice.uid}).get_data(as_text=True)
    assert by_user.count('class="entry"') == len(about_alice)
    assert f'id="user-pseudonym">{trail.pseudonym(alice.uid)}<' in by_user
    nobody = client.get("/admin/audit", query_string={"user": "someone-else"})
    assert nobody.get_data(as_text=True).count('class="entry"') == 0

    first = client.get("/admin/audit", query_string={"limit": "1"}).get_data(as_text=True)
    assert first.count('class="entry"') == 1 and "audit.read" in first  # the read just above
    assert 'href="/admin/audit?limit=2"' in first
    for bad in ("0", "1001", "many"):
        assert client.get("/admin/audit", query_string={"limit": bad}).status_code == 400

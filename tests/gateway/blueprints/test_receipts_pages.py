"""Receipts a person can read and check, and who looked at their rooms: the JWKS at its
well-known address, the account page (dates in the zone the person picks, what was
destroyed in words, a download), the erased page, and the room access per day."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws
from joserfc.jwk import KeySet

from gateway.crypto.receipt_keys import JWKS_PATH
from gateway.services.callers import Caller, user_caller
from tests.conftest import PUBLIC_URL
from tests.gateway.services.test_privacy import DAY, Host

REASON = "the room moved to another floor"


@pytest.fixture
def host(app: Flask, sign_in: Any, client: FlaskClient) -> Host:
    return Host(app, sign_in, client)


def jwks_of(client: FlaskClient) -> dict[str, Any]:
    answer = client.get(JWKS_PATH)
    assert answer.status_code == 200
    return dict(answer.get_json(force=True))


def check_with_joserfc(receipt: dict[str, Any], published: dict[str, Any]) -> dict[str, Any]:
    """What the page tells a person to do, with nothing of the gateway."""
    signed = jws.deserialize_compact(
        receipt["signature"]["jws"], KeySet.import_key_set(published), algorithms=["Ed25519"]
    )
    payload = json.loads(signed.payload)
    assert payload == {k: v for k, v in receipt.items() if k != "signature"}
    return dict(payload)


def test_the_receipt_keys_are_published_for_anyone(client: FlaskClient) -> None:
    answer = client.get(JWKS_PATH)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/jwk-set+json")
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    (key,) = answer.get_json(force=True)["keys"]  # made on first use, never an empty set
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "Ed25519"
    assert "d" not in key and key["kid"]
    assert jwks_of(client) == answer.get_json(force=True)  # the same key next time
    # linked from the record of processing, for anyone
    register = client.get("/processing-register").get_data(as_text=True)
    assert f'href="{JWKS_PATH}" id="jwks-link"' in register


def test_a_revocation_receipt_verifies_with_the_published_keys_after_a_rotation(
    host: Host, client: FlaskClient
) -> None:
    receipt = host.services.revocation.revoke_grant(host.uid, host.gid, reason=REASON, actor="x")
    assert receipt["signature"]["keys"] == PUBLIC_URL + JWKS_PATH
    assert check_with_joserfc(receipt, jwks_of(client))["reason"] == REASON
    host.services.receipts.rotate_key()
    published = jwks_of(client)
    assert len(published["keys"]) == 2
    assert check_with_joserfc(receipt, published)["grant"] == host.gid


def test_the_account_page_shows_receipts_in_words_in_the_chosen_zone(
    host: Host, client: FlaskClient
) -> None:
    receipt = host.services.revocation.revoke_grant(host.uid, host.gid, reason=REASON, actor="x")
    at = datetime.fromtimestamp(receipt["at"], UTC)
    utc_page = client.get("/account").get_data(as_text=True)
    assert f'id="receipt-{receipt["receipt"]}"' in utc_page
    assert at.strftime("%Y-%m-%d %H:%M UTC") in utc_page
    assert "Calendar access ended" in utc_page and REASON in utc_page
    assert "1 encryption key destroyed" in utc_page
    assert "1 room connection removed" in utc_page
    assert f"Ed25519, key {receipt['signature']['kid']}" in utc_page
    assert f'href="{PUBLIC_URL}{JWKS_PATH}"' in utc_page  # the how-to-verify text names it

    tokyo = client.get("/account", query_string={"tz": "Asia/Tokyo"}).get_data(as_text=True)
    local = at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M JST")
    assert local in tokyo and at.strftime("%Y-%m-%d %H:%M UTC") not in tokyo
    assert 'value="Asia/Tokyo"' in tokyo  # the choice stays in the form


def test_an_unknown_time_zone_is_a_clear_400_and_shows_nothing(
    host: Host, client: FlaskClient
) -> None:
    answer = client.get("/account", query_string={"tz": "Mars/Olympus"})
    assert answer.status_code == 400
    assert "IANA name" in answer.get_data(as_text=True)
    assert "Traceback" not in answer.get_data(as_text=True)


def test_a_receipt_downloads_as_an_attachment_that_verifies(
    host: Host, client: FlaskClient
) -> None:
    receipt = host.services.revocation.revoke_grant(host.uid, host.gid, reason=REASON, actor="x")
    answer = client.get(f"/account/receipts/{receipt['receipt']}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    disposition = answer.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="receipt-{receipt["receipt"]}.json"'
    downloaded = json.loads(answer.get_data(as_text=True))
    assert downloaded == receipt
    check_with_joserfc(downloaded, jwks_of(client))


def test_no_one_downloads_a_receipt_that_is_not_theirs(
    host: Host, client: FlaskClient, another_browser: Any
) -> None:
    receipt = host.services.revocation.revoke_grant(host.uid, host.gid, reason=REASON, actor="x")
    bob = another_browser()
    bob.complete("google", "bob@example.com")
    assert bob.client.get(f"/account/receipts/{receipt['receipt']}").status_code == 404
    assert client.get("/account/receipts/no-such-receipt").status_code == 404
    signed_out = host.app.test_client()
    assert signed_out.get(f"/account/receipts/{receipt['receipt']}").status_code == 401


def test_the_erased_page_reads_the_receipt_and_sends_it_back_as_a_file(
    host: Host, client: FlaskClient
) -> None:
    client.get("/account/erase", query_string={"tz": "America/New_York"})
    erased = client.post(
        "/account/erase",
        data={"confirm": "erase", "csrf_token": host.csrf(), "tz": "America/New_York"},
    )
    assert erased.status_code == 200
    page = erased.get_data(as_text=True)
    assert "Account erased" in page and "1 calendar access ended" in page
    assert " EST" in page or " EDT" in page
    shown = page.split('name="receipt" value="', 1)[1].split('"', 1)[0]
    receipt = json.loads(html.unescape(shown))
    assert receipt["kind"] == "erasure"
    back = client.post("/receipts/download", data={"receipt": json.dumps(receipt)})
    assert back.status_code == 200
    assert back.headers["Content-Disposition"].startswith("attachment;")
    check_with_joserfc(json.loads(back.get_data(as_text=True)), jwks_of(client))
    # only a receipt this gateway signed is sent back
    forged = {**receipt, "kept": {"audit_entries": 0}}
    refused = client.post("/receipts/download", data={"receipt": json.dumps(forged)})
    assert refused.status_code == 400
    assert client.post("/receipts/download", data={"receipt": "<b>hi</b>"}).status_code == 400


def test_the_host_sees_who_asked_for_their_rooms_per_day(host: Host, client: FlaskClient) -> None:
    found = host.services
    lobby, _secret = found.api_clients.create("Lobby screen", {"frontend"}, set(), "60/minute")
    found.rooms.create(
        {
            "id": "bolt",
            "name": "Bolt",
            "time_zone": "UTC",
            "host": host.uid,
            "visibility": ["members"],
            "hours": {"wednesday": [["08:00", "18:00"]]},
        }
    )
    screen = Caller(kind="client", id=lobby.id, audiences=frozenset({"frontend"}))
    found.freebusy.query(screen, ["atlas"], *DAY)
    for member in ("member-one", "member-two", "member-one"):
        found.freebusy.query(user_caller(member), ["bolt"], *DAY)

    page = client.get("/account").get_data(as_text=True)
    table = page.split('id="room-access"', 1)[1].split("</table>", 1)[0]
    today = datetime.now(UTC).date().isoformat()
    assert today in table
    rows = table.split("<tr>")[2:]
    assert any("Atlas" in r and "API client Lobby screen" in r for r in rows)
    bolt = next(r for r in rows if "Bolt" in r)
    assert "members" in bolt and "<td>3</td>" in bolt  # counted, never named
    assert "member-one" not in page and "member-two" not in page
    # the export holds the same counts
    export = client.get("/v1/me/export").get_json()
    assert {"room": "bolt", "asker": "member", "day": today, "requests": 3} in export["roomAccess"]


def test_a_host_nobody_asked_about_is_told_so(sign_in: Any, client: FlaskClient) -> None:
    sign_in.complete("google", "bob@example.com")
    page = client.get("/account").get_data(as_text=True)
    assert 'id="no-room-access"' in page and 'id="no-receipts"' in page

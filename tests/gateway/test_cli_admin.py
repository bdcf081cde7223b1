"""Admin commands: revoke a user, a grant, a room or a provider with a reason; audit; receipts."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway.cli_admin import admin_cli
from gateway.storage.grants import ACTIVE, REVOKED

ALICE, CAROL = "alice@example.com", "carol@contoso.example"
SCOPES = {
    "google": "https://www.googleapis.com/auth/calendar.freebusy",
    "microsoft": "Calendars.ReadBasic",
}
REASON = "Ended by the operator: the host left the company."


@pytest.fixture(autouse=True)
def wired(app: Flask) -> Flask:
    """Until gateway/cli.py registers the group."""
    if "admin" not in app.cli.commands:
        app.cli.add_command(admin_cli)
    return app


class Host:
    """A signed-in user (their own browser) with a room-availability grant behind a room."""

    def __init__(self, app: Flask, browser: Any, provider: str, account: str, room: str) -> None:
        self.services = app.extensions["gateway"]
        self.client = browser.client
        browser.complete(provider, account)
        self.uid: str = self.client.get("/v1/me").get_json()["id"]
        connector = self.services.signin.connectors[provider]
        redirect_uri = self.services.settings.redirect_uri(provider)
        started = connector.begin(redirect_uri, f"c-{time.monotonic_ns()}", (SCOPES[provider],))
        browser.emulator.client.authorize_next(account)
        _, params = browser.at_provider(started.url)
        identity = connector.complete(redirect_uri, started.flow, params)
        self.gid: str = self.services.grants.create(self.uid, "room-availability", identity).id
        self.services.rooms.create(
            {"id": room, "name": room.title(), "time_zone": "UTC", "host": self.uid}
        )
        self.services.rooms.bind(self.uid, room, self.gid)

    def grant(self) -> Any:
        return self.services.grants.get(self.uid, self.gid)


@pytest.fixture
def alice(app: Flask, another_browser: Any) -> Host:
    return Host(app, another_browser(), "google", ALICE, "atlas")


def admin(app: Flask, *args: str, **kwargs: Any) -> Any:
    return app.test_cli_runner().invoke(args=["admin", *args], **kwargs)


def receipts(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_revoke_grant_prints_a_receipt_and_the_user_reads_the_reason(
    app: Flask, alice: Host
) -> None:
    result = admin(app, "revoke-grant", "--reason", REASON, "--", alice.uid, alice.gid)
    assert result.exit_code == 0, result.output
    (receipt,) = receipts(result.output)
    assert receipt["grant"] == alice.gid and receipt["reason"] == REASON
    assert alice.grant().status == REVOKED and alice.grant().reason == REASON
    assert REASON in alice.client.get("/account").get_data(as_text=True)
    assert alice.services.rooms.binding("atlas") is None


def test_revoke_user_revokes_every_grant(app: Flask, alice: Host) -> None:
    result = admin(app, "revoke-user", "--reason", REASON, "--", alice.uid)
    assert result.exit_code == 0, result.output
    assert [r["grant"] for r in receipts(result.output)] == [alice.gid]
    assert alice.grant().status == REVOKED


def test_revoke_room_ends_the_grant_behind_it(app: Flask, alice: Host) -> None:
    result = admin(app, "revoke-room", "atlas", "--reason", REASON)
    assert result.exit_code == 0, result.output
    assert receipts(result.output)[0]["grant"] == alice.gid
    assert alice.grant().status == REVOKED
    assert alice.services.rooms.bindings_of(alice.uid) == []
    again = admin(app, "revoke-room", "atlas", "--reason", REASON)
    assert again.exit_code == 1 and "not connected to an active grant" in again.output


def test_revoke_provider_asks_first_and_spares_other_providers(
    app: Flask, alice: Host, another_browser: Any
) -> None:
    carol = Host(app, another_browser(), "microsoft", CAROL, "borealis")
    asked = admin(app, "revoke-provider", "google", "--reason", REASON, input="n\n")
    assert asked.exit_code == 1 and alice.grant().status == ACTIVE
    result = admin(app, "revoke-provider", "google", "--reason", REASON, "--yes")
    assert result.exit_code == 0, result.output
    assert result.output == "revoked 1 grant(s) of google\n"
    assert alice.grant().status == REVOKED and alice.grant().reason == REASON
    assert carol.grant().status == ACTIVE


@pytest.mark.parametrize(
    "args",
    [
        ["revoke-grant", "--", "U", "G"],
        ["revoke-grant", "--reason", "", "--", "U", "G"],
        ["revoke-grant", "--reason", "   ", "--", "U", "G"],
        ["revoke-user", "--", "U"],
        ["revoke-room", "atlas", "--reason", ""],
        ["revoke-provider", "google", "--yes"],
        ["revoke-provider", "google", "--yes", "--reason", " "],
    ],
)
def test_a_reason_is_mandatory(app: Flask, alice: Host, args: list[str]) -> None:
    filled = [alice.uid if a == "U" else alice.gid if a == "G" else a for a in args]
    result = admin(app, *filled)
    assert result.exit_code == 2
    assert "--reason" in result.output
    assert alice.grant().status == ACTIVE


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["revoke-user", "nobody"], "no user has the id 'nobody'"),
        (["revoke-grant", "nobody", "nothing"], "has no grant 'nothing'"),
        (["revoke-room", "nowhere"], "there is no room 'nowhere'"),
    ],
)
def test_unknown_targets_are_one_line_and_exit_1(app: Flask, args: list[str], words: str) -> None:
    result = admin(app, *args, "--reason", REASON)
    assert result.exit_code == 1 and words in result.output


def test_audit_prints_json_lines_filtered_and_limited(app: Flask, alice: Host) -> None:
    trail = app.extensions["gateway"].audit
    admin(app, "revoke-grant", "--reason", REASON, "--", alice.uid, alice.gid)
    trail.record(actor="system", action="keys.rotate")

    everything = receipts(admin(app, "audit").output)
    assert [e["action"] for e in everything] == [
        "keys.rotate",
        "grant.revoke",
        "room.unbind",
        "room.bind",  # the fixture's binding of alice's room
        "room.create",
    ]
    revoke = everything[1]
    assert revoke["subject"] == trail.pseudonym(alice.uid)
    assert revoke["actor"] == "cli"  # a named non-person, not a pseudonym
    assert alice.uid not in json.dumps(everything) and ALICE not in json.dumps(everything)

    about_alice = receipts(admin(app, "audit", f"--user={alice.uid}").output)
    assert [e["action"] for e in about_alice] == [e["action"] for e in everything[1:]]
    assert len(receipts(admin(app, "audit", "--action", "keys.rotate").output)) == 1
    # reading about one person was recorded, once
    [read] = receipts(admin(app, "audit", "--action", "audit.read").output)
    assert read["subject"] == trail.pseudonym(alice.uid) and read["detail"] == {"shown": 4}
    assert receipts(admin(app, "audit", "--limit", "1").output)[0]["action"] == "audit.read"
    assert admin(app, "audit", "--limit", "0").exit_code == 2


def test_verify_receipt_accepts_the_printed_one_and_rejects_a_tampered_one(
    app: Flask, alice: Host, tmp_path: Path
) -> None:
    printed = admin(app, "revoke-grant", "--reason", REASON, "--", alice.uid, alice.gid).output
    good = tmp_path / "receipt.json"
    good.write_text(printed)
    valid = admin(app, "verify-receipt", str(good))
    assert valid.exit_code == 0 and valid.output == "valid\n"

    receipt = json.loads(printed)
    receipt["deleted"]["bindings"] = 0
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(receipt))
    refused = admin(app, "verify-receipt", str(tampered))
    assert refused.exit_code == 1 and "does not match its signature" in refused.output

    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(json.dumps({k: v for k, v in receipt.items() if k != "signature"}))
    assert admin(app, "verify-receipt", str(unsigned)).exit_code == 1
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    assert admin(app, "verify-receipt", str(garbage)).exit_code == 1
    assert admin(app, "verify-receipt", str(tmp_path / "missing.json")).exit_code == 2


def test_move_subject_names_renames_unkeyed_lookups(app: Flask, sign_in: Any) -> None:
    sign_in.complete("google", ALICE)
    uid = sign_in.client.get("/v1/me").get_json()["id"]
    found = app.extensions["gateway"]
    (subject,) = [i.subject for i in found.users.get(uid).identities]
    redis = found.redis
    (keyed,) = [str(k) for k in redis.scan_iter("gw:ident:*")]
    plain = f"gw:ident:google:{hashlib.sha256(subject.encode()).hexdigest()}"
    redis.set(plain, redis.get(keyed))  # as the gateway named it before names were keyed
    redis.delete(keyed)

    result = app.test_cli_runner().invoke(args=["admin", "move-subject-names"])
    assert result.exit_code == 0, result.output
    assert "moved 1 sign-in lookup(s)" in result.output
    assert [str(k) for k in redis.scan_iter("gw:ident:*")] == [keyed]

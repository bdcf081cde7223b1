"""Every access to or change of someone else's data, and every security-relevant change, is
exactly one audit record, with actor and subject as keyed pseudonyms (never an id, e-mail or
token); the actions the code records are exactly the catalogue's `audit_events`, which the
processing register lists. Each action is driven through its real HTTP route or CLI command.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from gateway.crypto.keyring import new_key_entry
from gateway.storage.audit import AUDIT, AuditEntry, AuditTrail, UnknownAuditAction
from scopes import load_catalogue
from tests.conftest import KEY_RING

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
ALICE, BOB = "alice@example.com", "bob@example.com"
CAROL = "carol@contoso.example"  # a Microsoft account Alice links to hers
PURPOSE = "room-availability"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ROOM = {"id": "atlas", "name": "Atlas", "time_zone": "UTC", "visibility": ["members"]}


# -- the code records exactly the catalogue's events ------------------------------------------
def recorded_actions() -> tuple[set[str], list[str]]:
    """Every action passed to an audit trail's `record` in gateway/, and the calls whose
    action is not a literal (which would escape this check)."""
    found: set[str] = set()
    opaque: list[str] = []
    for path in sorted(GATEWAY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = ast.unparse(node.func.value)
            if node.func.attr != "record" or not receiver.endswith(("audit", "trail")):
                continue
            [action] = [k.value for k in node.keywords if k.arg == "action"]
            choices = [action.body, action.orelse] if isinstance(action, ast.IfExp) else [action]
            for choice in choices:
                if isinstance(choice, ast.Constant) and isinstance(choice.value, str):
                    found.add(choice.value)
                else:
                    opaque.append(f"{path.name}:{node.lineno}")
    return found, opaque


def test_the_code_records_exactly_the_audit_events_the_register_lists() -> None:
    found, opaque = recorded_actions()
    assert opaque == [], "pass the action as a literal so the register can be checked"
    assert found == load_catalogue().audit_actions


def test_an_action_the_catalogue_does_not_list_is_refused(redis_client: redis.Redis) -> None:
    trail = AuditTrail(redis_client, "x" * 40, load_catalogue().audit_actions)
    with pytest.raises(UnknownAuditAction):
        trail.record(actor="system", action="room.note")
    assert redis_client.exists(AUDIT) == 0


# -- helpers ----------------------------------------------------------------------------------
@pytest.fixture
def gateway_env(gateway_env: dict[str, str], emulator: Any) -> dict[str, str]:
    """Bob (by his stable emulator subject) is the admin."""
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == BOB)
    return {**gateway_env, "GATEWAY_ADMINS": f"google:{subject}"}


class Trail:
    """The audit stream as a reader of Redis sees it, checked for one action at a time."""

    def __init__(self, app: Flask, store: redis.Redis) -> None:
        self.audit: AuditTrail = app.extensions["gateway"].audit
        self.store = store
        self.private: set[str] = {ALICE, BOB}  # ids and addresses that must never appear
        self._seen = self._last()

    def _last(self) -> str:
        newest = cast(list[tuple[str, Any]], self.store.xrevrange(AUDIT, count=1))
        return newest[0][0] if newest else "0-0"

    def new(self) -> list[AuditEntry]:
        """The records written since the last call, oldest first."""
        raw = cast(list[tuple[str, dict[str, str]]], self.store.xrange(AUDIT, min=f"({self._seen}"))
        self._seen = self._last()
        text = repr(raw)
        for secret in self.private:
            assert secret not in text, f"{secret!r} in the audit trail"
        return [e for e in self.audit.entries(limit=1000) if e.id in {i for i, _ in raw}][::-1]

    def one(self, action: str, *, actor: str, subject: str = "") -> AuditEntry:
        """Exactly one record of `action` since the last call, by and about these people."""
        found = [e for e in self.new() if e.action == action]
        assert len(found) == 1, [e.action for e in found]
        [entry] = found
        assert entry.actor == self.audit.pseudonym(actor)
        assert entry.subject == self.audit.pseudonym(subject)
        for who in (actor, subject):
            if who not in ("", "cli", "system"):
                assert entry.actor != who and entry.subject != who  # a pseudonym, not the id
        return entry

    def pseudonym(self, who: str) -> str:
        return self.audit.pseudonym(who)


def csrf(client: FlaskClient) -> str:
    found = TOKEN.search(client.get("/account").get_data(as_text=True))
    assert found, "no CSRF token on the account page"
    return found.group(1)


def signed_in(browser: Any, account: str) -> str:
    browser.complete("google", account)
    return str(browser.client.get("/v1/me").get_json()["id"])


def give_consent(browser: Any, account: str, **answer: Any) -> Any:
    client = browser.client
    started = client.post(
        f"/consent/{PURPOSE}", data={"provider": "google", "csrf_token": csrf(client)}
    )
    assert started.status_code == 303, started.get_data(as_text=True)
    browser.emulator.client.authorize_next(account, **answer)
    return browser.back_to_gateway(*browser.at_provider(started.headers["Location"]))


class People:
    """Alice (a host, in her own browser) and Bob (the admin, in the `client` browser)."""

    def __init__(self, app: Flask, sign_in: Any, another_browser: Any, store: redis.Redis):
        self.app, self.services = app, app.extensions["gateway"]
        self.another_browser = another_browser
        self.alice_browser = another_browser()
        self.alice = signed_in(self.alice_browser, ALICE)
        self.admin_browser = sign_in
        self.bob = signed_in(sign_in, BOB)
        self.trail = Trail(app, store)
        self.trail.private |= {self.alice, self.bob}

    @property
    def as_alice(self) -> FlaskClient:
        return cast(FlaskClient, self.alice_browser.client)

    @property
    def as_bob(self) -> FlaskClient:
        return cast(FlaskClient, self.admin_browser.client)

    def consented(self) -> str:
        done = give_consent(self.alice_browser, ALICE)
        assert done.headers["Location"] == "/account"
        [grant] = self.services.grants.list(self.alice)
        self.trail.private.add(grant.id)
        self.trail.new()
        return str(grant.id)

    def bound_room(self) -> str:
        gid = self.consented()
        self.services.rooms.create({**ROOM, "host": self.alice})
        self.services.rooms.bind(self.alice, "atlas", gid)
        self.trail.new()
        return gid


@pytest.fixture
def people(
    app: Flask, sign_in: Any, another_browser: Any, redis_client: redis.Redis
) -> Iterator[People]:
    yield People(app, sign_in, another_browser, redis_client)


def cli(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


# -- consent ----------------------------------------------------------------------------------
def test_consent_given_refused_and_withdrawn_are_one_record_each(people: People) -> None:
    trail = people.trail
    refused = give_consent(people.alice_browser, ALICE, grant=["openid", "email", "profile"])
    assert "/incomplete" in refused.headers["Location"]
    entry = trail.one("consent.give", actor=people.alice, subject=people.alice)
    assert (entry.purpose, entry.result, entry.detail["provider"]) == (PURPOSE, "refused", "google")

    give_consent(people.alice_browser, ALICE)
    entry = trail.one("consent.give", actor=people.alice, subject=people.alice)
    assert (entry.purpose, entry.result) == (PURPOSE, "ok")

    out = people.as_alice.post(
        f"/consent/{PURPOSE}/withdraw",
        data={"provider": "google", "csrf_token": csrf(people.as_alice)},
    )
    assert out.status_code == 303
    new = trail.new()
    assert [e.action for e in new].count("consent.withdraw") == 1
    assert [e.action for e in new].count("grant.revoke") == 1
    [withdrawn] = [e for e in new if e.action == "consent.withdraw"]
    assert withdrawn.subject == trail.pseudonym(people.alice) and withdrawn.detail["grants"] == 1


# -- rooms and bindings -------------------------------------------------------------------------
def test_rooms_created_changed_and_deleted_through_the_admin_api(people: People) -> None:
    trail, bob = people.trail, people.as_bob
    headers = {"X-CSRFToken": csrf(bob)}

    created = bob.post("/v1/admin/rooms", json={**ROOM, "host": people.alice}, headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    entry = trail.one("room.create", actor=people.bob, subject=people.alice)
    assert entry.detail == {"room": "atlas"}

    changed = bob.patch("/v1/admin/rooms/atlas", json={"name": "Atlas 2"}, headers=headers)
    assert changed.status_code == 200
    entry = trail.one("room.update", actor=people.bob, subject=people.alice)
    assert entry.detail == {"room": "atlas", "fields": ["name"], "host_changed": False}

    assert bob.delete("/v1/admin/rooms/atlas", headers=headers).status_code == 204
    trail.one("room.delete", actor=people.bob, subject=people.alice)


def test_rooms_created_changed_and_deleted_through_the_cli(people: People) -> None:
    trail, app = people.trail, people.app
    cli(app, "rooms", "create", "atlas", "--name", "Atlas", "--time-zone", "UTC")
    trail.one("room.create", actor="cli")
    cli(app, "rooms", "update", "atlas", f"--host={people.alice}")
    entry = trail.one("room.update", actor="cli", subject=people.alice)
    assert entry.detail["host_changed"] is True
    cli(app, "rooms", "delete", "atlas", "--yes")
    trail.one("room.delete", actor="cli", subject=people.alice)


def test_a_host_binding_and_unbinding_a_calendar_is_one_record_each(people: People) -> None:
    gid = people.consented()
    people.services.rooms.create({**ROOM, "host": people.alice})
    trail, alice = people.trail, people.as_alice
    trail.new()

    bound = alice.post("/rooms/atlas/bind", data={"csrf_token": csrf(alice), "grant": gid})
    assert bound.status_code == 303, bound.get_data(as_text=True)
    entry = trail.one("room.bind", actor=people.alice, subject=people.alice)
    assert entry.detail == {"room": "atlas", "change": "bind"}

    unbound = alice.post("/rooms/atlas/unbind", data={"csrf_token": csrf(alice)})
    assert unbound.status_code == 303
    entry = trail.one("room.unbind", actor=people.alice, subject=people.alice)
    assert entry.detail == {"room": "atlas", "reason": "unbind"}


def test_linking_another_providers_account_is_one_record(people: People) -> None:
    trail, alice = people.trail, people.as_alice
    started = alice.post("/auth/link/microsoft", data={"csrf_token": csrf(alice)})
    assert started.status_code == 303
    people.alice_browser.emulator.client.authorize_next(CAROL)
    browser = people.alice_browser
    done = browser.back_to_gateway(*browser.at_provider(started.headers["Location"]))
    assert done.status_code == 303
    entry = trail.one("identity.link", actor=people.alice, subject=people.alice)
    assert entry.detail == {"provider": "microsoft"}
    # signing in again with the linked account links nothing new
    people.another_browser().complete("microsoft", CAROL)
    assert [e.action for e in trail.new() if e.action == "identity.link"] == []


# -- an admin looking at someone -------------------------------------------------------------------
def test_an_admin_opening_a_profile_a_room_or_someones_trail_is_recorded(people: People) -> None:
    people.bound_room()
    trail, bob = people.trail, people.as_bob

    assert bob.get(f"/admin/users/{people.alice}").status_code == 200
    trail.one("user.view", actor=people.bob, subject=people.alice)
    assert bob.get("/admin/users/nobody-here").status_code == 404
    assert trail.new() == []  # nothing was opened

    assert bob.get("/admin/rooms/atlas").status_code == 200
    assert trail.one("room.view", actor=people.bob, subject=people.alice).detail == {
        "room": "atlas"
    }

    assert bob.get("/admin/audit", query_string={"user": people.alice}).status_code == 200
    trail.one("audit.read", actor=people.bob, subject=people.alice)
    assert bob.get("/admin/audit").status_code == 200
    assert trail.new() == []  # the whole trail names no one in particular

    # and the people themselves cannot open the admin pages (nothing recorded either)
    assert people.as_alice.get(f"/admin/users/{people.bob}").status_code == 403
    assert trail.new() == []


def test_an_admin_revoking_and_ending_sessions_is_recorded(people: People) -> None:
    people.bound_room()
    trail, bob = people.trail, people.as_bob
    done = bob.post(
        f"/admin/users/{people.alice}/revoke",
        data={"reason": "security review", "end_sessions": "1", "csrf_token": csrf(bob)},
    )
    assert done.status_code == 200
    new = trail.new()
    assert [e.action for e in new] == ["room.unbind", "grant.revoke", "sessions.end"]
    for entry in new:
        assert (entry.actor, entry.subject) == (
            trail.pseudonym(people.bob),
            trail.pseudonym(people.alice),
        )


# -- the person's own rights ----------------------------------------------------------------------
def test_export_restriction_and_erasure_are_recorded_and_erasure_keeps_the_records(
    people: People,
) -> None:
    people.bound_room()
    trail, alice = people.trail, people.as_alice
    headers = {"X-CSRFToken": csrf(alice)}

    assert alice.get("/v1/me/export").status_code == 200
    trail.one("account.export", actor=people.alice, subject=people.alice)
    for restricted, action in ((True, "restriction.set"), (False, "restriction.lift")):
        done = alice.post("/v1/me/restriction", json={"restricted": restricted}, headers=headers)
        assert done.status_code == 200
        trail.one(action, actor=people.alice, subject=people.alice)

    about_alice = people.services.audit.entries(subject=people.alice, limit=1000)
    erased = alice.delete("/v1/me", headers=headers)
    assert erased.status_code == 200
    receipt = erased.get_json()
    trail.one("account.erase", actor=people.alice, subject=people.alice)

    # the records about her stay, under the pseudonym the receipt names, and only there
    named = receipt["subject"]
    kept = [e for e in people.services.audit.entries(limit=1000) if named in (e.actor, e.subject)]
    assert receipt["subject"] == trail.pseudonym(people.alice)
    assert {e.id for e in about_alice} < {e.id for e in kept}
    assert receipt["kept"] == {"audit_entries": len(kept)}
    assert "audit_entries" not in receipt["deleted"]


# -- operators: API clients and keys --------------------------------------------------------------
def test_api_client_changes_through_the_cli_are_one_record_each(people: People) -> None:
    trail, app = people.trail, people.app
    created = cli(app, "clients", "create", "booking", "--audience", "members")
    client_id = created.stdout.split("\t", 1)[0]
    trail.private.add(client_id)
    entry = trail.one("api_client.create", actor="cli", subject=f"client:{client_id}")
    assert entry.detail == {"audiences": 1, "rooms": 0}
    for command, action in (("disable", "api_client.disable"), ("enable", "api_client.enable")):
        cli(app, "clients", command, client_id)
        trail.one(action, actor="cli", subject=f"client:{client_id}")
    cli(app, "clients", "delete", client_id, "--yes")
    trail.one("api_client.delete", actor="cli", subject=f"client:{client_id}")


def test_key_rotation_and_retirement_through_the_cli_are_recorded(
    people: People,
    build_gateway: Callable[[dict[str, str]], Flask],
    make_env: Callable[..., dict[str, str]],
    redis_client: redis.Redis,
) -> None:
    people.consented()
    rotated = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=f"{new_key_entry('v2')},{KEY_RING}"))
    trail = Trail(rotated, redis_client)
    trail.private = people.trail.private

    cli(rotated, "keys", "rotate")
    entry = trail.one("keys.rotate", actor="cli")
    assert entry.detail["version"] == "v2" and entry.detail["rewrapped"] >= 1
    cli(rotated, "keys", "retire", "v1")
    assert trail.one("keys.retire", actor="cli").detail == {"version": "v1"}

"""Several calendars behind one room, and several accounts of one provider per host.

A room is backed by up to five calendars from any of its host's grants; its busy time is
their union, any one unread calendar makes it unknown (never free), revoking one grant
removes only that grant's calendars. A consent replaces only its own account's grant.
Real Redis and the emulator over HTTPS; two Google accounts of one person are alice's and
bob's accounts at the emulator, both authorized by the host signed in as alice.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from gateway.services.room_model import BindingRefused, TooManyCalendars
from gateway.storage import room_keys
from gateway.storage.grants import ACTIVE
from tests.hosts import PLANTED, Hosts

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@contoso.example"


@pytest.fixture
def app(build_gateway: Any, make_env: Any) -> Flask:
    """A provider deadline short enough for the failure test, long enough on a busy machine."""
    return build_gateway(make_env(GATEWAY_FREEBUSY_DEADLINE_SECONDS="5"))


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def two_accounts(hosts: Hosts) -> tuple[str, str, str, str]:
    """Alice hosts room atlas, backed by her own Google calendar and her other account's."""
    uid, own = hosts.host("google", ALICE)
    other = hosts.another_account(uid, "google", BOB)
    hosts.room("atlas", uid, own)
    hosts.services.rooms.add_calendar(uid, "atlas", other)
    return uid, own, other, "atlas"


def busy(hosts: Hosts, room_id: str) -> list[tuple[str, str]]:
    found = hosts.query(room_id).rooms[room_id]
    assert found.status == "ok", found
    return [(i.start.strftime("%H:%M"), i.end.strftime("%H:%M")) for i in found.busy]


def test_a_room_is_busy_when_any_of_its_calendars_is(app: Flask, hosts: Hosts) -> None:
    uid, own, other, room = two_accounts(hosts)
    hosts.event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.event(BOB, "2026-11-25T09:30:00Z", "2026-11-25T11:00:00Z")  # overlaps: one block
    hosts.event(BOB, "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z")

    answer = hosts.query(room)

    assert answer.rooms[room].status == "ok"
    assert busy(hosts, room) == [("09:00", "11:00"), ("14:00", "15:00")]
    text = answer.encoded
    assert not [marker for marker in PLANTED if marker in text]
    views = hosts.services.rooms.bindings_of(uid)
    assert sorted((v.room_id, v.grant_id, v.calendar) for v in views) == sorted(
        [(room, own, "primary"), (room, other, "primary")]
    )


def test_each_grant_is_asked_once_however_many_rooms_its_calendars_back(
    app: Flask, hosts: Hosts
) -> None:
    uid, own, other, room = two_accounts(hosts)
    hosts.room("borealis", uid, own)  # a second room of the same calendar
    hosts.services.rooms.add_calendar(uid, "borealis", other)
    before = hosts.calls("google.freebusy")

    answer = hosts.query(room, "borealis")

    assert {r.status for r in answer.rooms.values()} == {"ok"}
    assert hosts.calls("google.freebusy") - before == 2  # one call per grant, not per room


def test_one_calendar_failing_makes_the_room_unknown_never_free(app: Flask, hosts: Hosts) -> None:
    """A room backed by a Google and a Microsoft calendar of one host; Graph fails."""
    uid, own = hosts.host("google", ALICE)
    mailbox = hosts.another_account(uid, "microsoft", CAROL)
    hosts.room("atlas", uid, own)
    hosts.services.rooms.add_calendar(uid, "atlas", mailbox)
    hosts.event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.event(CAROL, "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z")
    hosts.emulator.client.fault("microsoft.getschedule", status=503, times=-1)

    failed = hosts.query("atlas").rooms["atlas"]

    assert failed.status == "unknown" and failed.busy == ()  # not Google's busy time alone
    hosts.emulator.client.clear_faults()
    assert busy(hosts, "atlas") == [("09:00", "10:00"), ("14:00", "15:00")]


def test_revoking_one_grant_removes_only_its_calendars(app: Flask, hosts: Hosts) -> None:
    uid, own, other, room = two_accounts(hosts)
    hosts.event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.event(BOB, "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z")
    assert busy(hosts, room) == [("09:00", "10:00"), ("14:00", "15:00")]
    services = hosts.services

    services.revocation.revoke_grant(uid, other, reason="test", actor=uid)

    assert [b.gid for b in services.rooms.bindings(room)] == [own]
    assert hosts.status(room) == "ok"
    assert busy(hosts, room) == [("09:00", "10:00")]  # nothing of the revoked grant is left
    history = [(e.action, e.grant) for e in services.rooms.history(room)]
    assert history[-1] == ("grant-ended", other)

    services.revocation.revoke_grant(uid, own, reason="test", actor=uid)
    assert services.rooms.bindings(room) == []
    assert hosts.status(room) == "unbound"
    assert services.redis.get(room_keys.room_bound(room)) is None


def test_a_room_whose_one_grant_ended_needs_reconnecting(app: Flask, hosts: Hosts) -> None:
    uid, own, _other, room = two_accounts(hosts)
    client_id = hosts.services.signin.connectors["google"].client_id
    hosts.emulator.client.revoke_grant(BOB, client_id, "google")  # the person ends it there

    assert hosts.status(room) == "needs_reconnect"  # documented: one calendar is enough
    assert hosts.services.grants.get(uid, own).status == ACTIVE


def test_a_room_takes_five_calendars_and_refuses_a_sixth(app: Flask, hosts: Hosts) -> None:
    carol, gid = hosts.host("microsoft", CAROL)
    choice = hosts.services.grants.create(
        carol, "calendar-choice", hosts.identity(carol, "microsoft", CAROL)
    ).id
    assert choice
    rooms = hosts.services.rooms
    hosts.room("atlas", carol, gid)  # the mailbox of carol herself
    for mailbox in ("room-atlas", "room-borealis", "room-cirrus", "dave"):
        rooms.add_calendar(carol, "atlas", gid, f"{mailbox}@contoso.example")

    with pytest.raises(TooManyCalendars, match="at most 5 calendars"):
        rooms.add_calendar(carol, "atlas", gid, "sixth@contoso.example")
    with pytest.raises(BindingRefused, match="already backs this room"):
        rooms.add_calendar(carol, "atlas", gid, "primary")

    views = rooms.bindings_of(carol)
    assert len(views) == 5
    assert [v.calendar for v in views][:2] == ["primary", "room-atlas@contoso.example"]
    removed = views[1]
    assert rooms.remove_calendar(carol, "atlas", removed.version)
    assert not rooms.remove_calendar(carol, "atlas", removed.version)  # gone already
    assert len(rooms.bindings_of(carol)) == 4
    rooms.add_calendar(carol, "atlas", gid, "room-atlas@contoso.example")  # room for one again
    assert hosts.status("atlas") == "ok"
    rooms.remove_calendar(carol, "atlas", views[2].version)
    rooms.add_calendar(carol, "atlas", gid, "nobody@contoso.example")  # Graph: no such mailbox
    assert hosts.status("atlas") == "unknown"  # one calendar unread: never free


def test_removing_the_last_calendar_unbinds_the_room(app: Flask, hosts: Hosts) -> None:
    uid, _own, _other, room = two_accounts(hosts)
    rooms = hosts.services.rooms
    for view in rooms.bindings_of(uid):
        assert rooms.remove_calendar(uid, room, view.version)
    assert rooms.bindings_of(uid) == [] and hosts.status(room) == "unbound"
    assert room not in hosts.services.redis.smembers(room_keys.bindings(uid))


def test_a_consent_replaces_only_the_grant_of_its_own_account(app: Flask, hosts: Hosts) -> None:
    uid, own, other, room = two_accounts(hosts)
    services = hosts.services
    hosts.event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.event(BOB, "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z")

    # Reconnecting alice's own account: her old grant goes, her calendar moves to the new one.
    services.consent.on_authorized(uid, "room-availability", hosts.identity(uid, "google", ALICE))
    active = {g.id for g in services.grants.list(uid) if g.status == ACTIVE}
    assert own not in active and other in active and len(active) == 2
    (renewed,) = active - {other}
    assert sorted(b.gid for b in services.rooms.bindings(room)) == sorted([renewed, other])
    assert busy(hosts, room) == [("09:00", "10:00"), ("14:00", "15:00")]

    # Reconnecting the other account replaces its grant only; alice's renewed one stays.
    services.consent.on_authorized(uid, "room-availability", hosts.identity(uid, "google", BOB))
    now_active = {g.id for g in services.grants.list(uid) if g.status == ACTIVE}
    assert renewed in now_active and other not in now_active and len(now_active) == 2
    assert len(services.rooms.bindings(room)) == 2


def test_a_binding_of_the_older_shape_still_reads_and_takes_more_calendars(
    app: Flask, hosts: Hosts
) -> None:
    uid, own = hosts.host("google", ALICE)
    other = hosts.another_account(uid, "google", BOB)
    hosts.room("atlas", uid, own)
    hosts.event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.event(BOB, "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z")
    redis_client = hosts.services.redis
    (record,) = hosts.services.rooms.binding_records(uid)
    # What the gateway wrote before rooms had several calendars: one calendar's fields at
    # the hash's top level, and a pointer "uid gid version".
    redis_client.delete(room_keys.binding(uid, "atlas"))
    redis_client.hset(
        room_keys.binding(uid, "atlas"),
        mapping={
            "room": "atlas",
            "grant": own,
            "provider": "google",
            "calendar": record.sealed_calendar,
            "since": str(record.since),
            "account": record.account_mark,
        },
    )
    redis_client.set(room_keys.room_bound("atlas"), f"{uid} {own} 1234")

    assert hosts.services.rooms.binding("atlas").gid == own  # type: ignore[union-attr]
    assert busy(hosts, "atlas") == [("09:00", "10:00")]
    calls = hosts.calls("google.freebusy")
    assert busy(hosts, "atlas") == [("09:00", "10:00")]
    assert hosts.calls("google.freebusy") == calls  # its cache, keyed by that version, holds

    hosts.services.rooms.add_calendar(uid, "atlas", other)
    assert busy(hosts, "atlas") == [("09:00", "10:00"), ("14:00", "15:00")]
    assert "grant" not in redis_client.hgetall(room_keys.binding(uid, "atlas"))  # new shape
    pointer = redis_client.get(room_keys.room_bound("atlas"))
    assert pointer.startswith(f"{uid} {own} 1234 {other} ")


def test_the_export_lists_every_calendar_of_a_room(app: Flask, hosts: Hosts) -> None:
    uid, _own, _other, room = two_accounts(hosts)
    export = hosts.services.privacy.export(uid)
    bindings = export["rooms"]["bindings"]
    assert [(b["room"], b["provider"], b["calendar"]) for b in bindings] == [
        (room, "google", "primary"),
        (room, "google", "primary"),
    ]
    (hosted,) = export["rooms"]["hosted"]
    assert hosted["status"] == "ok"


def test_the_admin_cli_shows_a_rooms_calendars_without_opening_them(
    app: Flask, hosts: Hosts
) -> None:
    _uid, own, other, room = two_accounts(hosts)
    result = app.test_cli_runner().invoke(args=["rooms", "show", room])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["bound"] is True
    assert [(c["provider"], c["grant"], c["grantStatus"]) for c in shown["calendars"]] == [
        ("google", own, "active"),
        ("google", other, "active"),
    ]
    assert "primary" not in result.output and ALICE not in result.output

"""The change feed tells only of what changed: a notification that leaves every cached day's
busy time as it was (a title edited) sends no `room.availability.changed`, a real change
sends one over the days it changed; lifting a restriction tells the room's actual status;
removing a room's calendars tells its availability, then `unbound` with the last."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from gateway.services.callers import Caller
from tests.gateway.services.change_feed_support import (
    GENEROUS,
    app,
    hosts,
    receiver,
    room,
    statuses,
    subscribed,
    told,
    verified,
    worker,
)
from tests.gateway.services.watch_support import (
    ALICE,
    at,
    live_channels,
    tomorrow,
    wait_for,
    watching_host,
)
from tests.gateway.services.webhook_receiver import Receiver
from tests.hosts import Hosts

__all__ = ["app", "hosts", "receiver", "worker"]  # fixtures

FRONTEND = Caller(kind="client", id="frontend", audiences=frozenset({"frontend"}))
BOB = "bob@example.com"


def spans(secret: str, receiver: Receiver, room_id: str) -> list[tuple[datetime, datetime]]:
    """The spans of the availability events told of a room, in the order they were sent."""
    events = [verified(secret, r) for r in receiver.of_type("room.availability.changed")]
    events.sort(key=lambda e: str(e["timestamp"]))
    return [
        (datetime.fromisoformat(e["data"]["start"]), datetime.fromisoformat(e["data"]["end"]))
        for e in events
        if e["data"]["room"] == room_id
    ]


def delivered(emulator: Any, count: int) -> list[dict[str, Any]]:
    """The emulator's Google deliveries once `count` of them were taken by the gateway."""
    taken = [d for d in emulator.client.deliveries("google") if d.get("status") == 202]
    return taken if len(taken) >= count else []


def test_only_a_change_of_busy_time_is_told_and_only_over_the_days_it_changed(
    app: Flask, hosts: Hosts, emulator: Any, receiver: Receiver, worker: None
) -> None:
    _, secret = subscribed(app, receiver)
    uid, gid = watching_host(hosts)
    room(app, "atlas", uid)
    app.extensions["gateway"].rooms.bind(uid, "atlas", gid)
    wait_for(lambda: live_channels(emulator), timeout=GENEROUS)
    day, _ = tomorrow()
    after = day + timedelta(days=1)
    answer = app.extensions["gateway"].freebusy.query(FRONTEND, ["atlas"], day, day + timedelta(3))
    assert answer.rooms["atlas"].status == "ok"  # three days cached: what a change compares
    taken = len(delivered(emulator, 0))

    meeting = emulator.client.add_event(ALICE, at(day, 9), at(day, 10), summary="Planning")
    wait_for(lambda: spans(secret, receiver, "atlas"), timeout=GENEROUS)
    emulator.client.add_event(  # only its title: the same busy time
        ALICE, at(day, 9), at(day, 10), summary="Planning, renamed", event_id=meeting
    )
    wait_for(lambda: delivered(emulator, taken + 2), timeout=GENEROUS)
    emulator.client.add_event(ALICE, at(after, 14), at(after, 15), summary="Review")
    wait_for(lambda: len(spans(secret, receiver, "atlas")) >= 2, timeout=GENEROUS)

    assert spans(secret, receiver, "atlas") == [
        (day, day + timedelta(days=1)),  # the first change: its day only
        (after, after + timedelta(days=1)),  # the rename told nothing; the second, its day
    ]


def test_a_re_read_the_provider_fails_is_told_over_every_day_it_left_unread(
    app: Flask, hosts: Hosts, emulator: Any, receiver: Receiver, worker: None
) -> None:
    """The days dropped and not read again are `unknown` now: the frontend is told to ask."""
    _, secret = subscribed(app, receiver)
    uid, gid = watching_host(hosts)
    room(app, "atlas", uid)
    app.extensions["gateway"].rooms.bind(uid, "atlas", gid)
    wait_for(lambda: live_channels(emulator), timeout=GENEROUS)
    day, _ = tomorrow()
    app.extensions["gateway"].freebusy.query(FRONTEND, ["atlas"], day, day + timedelta(2))
    emulator.client.fault("google.freebusy", status=503, times=-1)

    emulator.client.add_event(ALICE, at(day, 9), at(day, 10))
    wait_for(lambda: spans(secret, receiver, "atlas"), timeout=GENEROUS)

    assert spans(secret, receiver, "atlas") == [(day, day + timedelta(days=2))]
    answer = app.extensions["gateway"].freebusy.query(FRONTEND, ["atlas"], day, day + timedelta(2))
    assert answer.rooms["atlas"].status == "unknown"


def test_lifting_a_restriction_tells_needs_reconnect_when_the_grant_was_refused(
    app: Flask, hosts: Hosts, receiver: Receiver, worker: None
) -> None:
    _, secret = subscribed(app, receiver)
    uid, _, atlas = hosts.hosted_room("google", "atlas")
    hosts.emulator.client.fault("google.freebusy", status=401, times=-1)
    hosts.emulator.client.fault("google.token", error="invalid_grant", times=-1)
    assert hosts.status(atlas) == "needs_reconnect"
    told(secret, receiver, "atlas", "needs_reconnect")
    privacy = app.extensions["gateway"].privacy

    privacy.restrict(uid, True, actor=uid)
    told(secret, receiver, "atlas", "restricted")
    privacy.restrict(uid, False, actor=uid)
    wait_for(lambda: len(statuses(secret, receiver, "atlas")) == 4, timeout=GENEROUS)

    assert statuses(secret, receiver, "atlas") == [
        "ok",
        "needs_reconnect",
        "restricted",
        "needs_reconnect",  # as /v1/freebusy answers, not `ok`
    ]
    assert hosts.status(atlas) == "needs_reconnect"


def test_a_room_whose_calendar_went_while_restricted_is_not_told_ok_on_lifting(
    app: Flask, hosts: Hosts, receiver: Receiver, worker: None
) -> None:
    _, secret = subscribed(app, receiver)
    uid, gid, atlas = hosts.hosted_room("google", "atlas")
    hosts.room("borealis", uid, gid)
    services = app.extensions["gateway"]
    services.privacy.restrict(uid, True, actor=uid)
    told(secret, receiver, "borealis", "restricted")
    services.rooms.unbind(uid, atlas)
    told(secret, receiver, "atlas", "unbound")

    services.privacy.restrict(uid, False, actor=uid)

    assert services.change_feed.room_status(atlas) == "unbound"
    assert services.change_feed.room_status("borealis") == "ok"
    wait_for(lambda: statuses(secret, receiver, "borealis")[-1:] == ["ok"], timeout=GENEROUS)
    assert statuses(secret, receiver, "atlas") == ["ok", "restricted", "unbound"]
    assert hosts.status(atlas) == "unbound"


def test_removing_a_calendar_tells_availability_and_removing_the_last_tells_unbound(
    app: Flask, hosts: Hosts, receiver: Receiver, worker: None
) -> None:
    _, secret = subscribed(app, receiver)
    uid, own = hosts.host("google", ALICE)
    other = hosts.another_account(uid, "google", BOB)
    rooms = app.extensions["gateway"].rooms
    hosts.room("atlas", uid, own)
    rooms.add_calendar(uid, "atlas", other)
    told(secret, receiver, "atlas", "ok")
    wait_for(lambda: spans(secret, receiver, "atlas"), timeout=GENEROUS)  # the second one
    first, second = rooms.bindings_of(uid)

    assert rooms.remove_calendar(uid, "atlas", first.version)
    wait_for(lambda: len(spans(secret, receiver, "atlas")) == 2, timeout=GENEROUS)
    assert statuses(secret, receiver, "atlas") == ["ok"]  # still bound: still ok
    assert hosts.status("atlas") == "ok"

    assert rooms.remove_calendar(uid, "atlas", second.version)
    told(secret, receiver, "atlas", "unbound")
    assert statuses(secret, receiver, "atlas") == ["ok", "unbound"]
    assert hosts.status("atlas") == "unbound"

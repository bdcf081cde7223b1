"""The change feed: an API client's webhook receives signed `room.availability.changed` and
`room.status.changed` events (Standard Webhooks), sent by the worker with retries; nothing in
them names a calendar's event; a receiver address the SSRF rules refuse is never stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from gateway.openapi_webhooks import AvailabilityChanged, StatusChanged
from gateway.services.change_feed import InvalidWebhook
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
from tests.hosts import PLANTED, Hosts

__all__ = ["app", "hosts", "receiver", "worker"]  # fixtures


def test_a_change_at_the_provider_reaches_the_webhook_signed_and_without_the_event(
    app: Flask, hosts: Hosts, emulator: Any, receiver: Receiver, worker: None, redis_contents: Any
) -> None:
    client_id, secret = subscribed(app, receiver)
    uid, gid = watching_host(hosts)
    room(app, "atlas", uid)
    room(app, "hidden", uid, visibility="staff")  # the client may not see it: never told
    app.extensions["gateway"].rooms.bind(uid, "atlas", gid)
    app.extensions["gateway"].rooms.bind(uid, "hidden", gid)
    wait_for(lambda: live_channels(emulator), timeout=GENEROUS)
    day, _ = tomorrow()

    emulator.client.add_event(
        ALICE, at(day, 9), at(day, 10), summary=PLANTED[0], location=PLANTED[1]
    )

    [first, *_] = wait_for(lambda: receiver.of_type("room.availability.changed"), timeout=GENEROUS)
    event = verified(secret, first)
    AvailabilityChanged.model_validate(event)  # as the OpenAPI document's webhooks say
    assert event["type"] == "room.availability.changed"
    assert event["data"]["room"] == "atlas"
    start = datetime.fromisoformat(event["data"]["start"])
    end = datetime.fromisoformat(event["data"]["end"])
    assert start <= day < day + timedelta(hours=10) <= end  # the span holds the change
    assert set(event["data"]) == {"room", "start", "end"}
    assert first.headers["webhook-id"].startswith("msg_")
    for planted in PLANTED:
        assert planted.encode() not in first.body
    assert all(b"hidden" not in r.body for r in receiver.received)
    wait_for(lambda: app.extensions["gateway"].change_feed.deliveries(client_id))
    [logged, *_] = app.extensions["gateway"].change_feed.deliveries(client_id)
    assert logged["status"] == "delivered" and logged["room"] == "atlas"
    stored = redis_contents()
    assert secret not in stored  # sealed, never in the clear
    assert secret.removeprefix("whsec_") not in stored


def test_a_receiver_that_fails_gets_the_same_event_again_until_it_takes_it(
    app: Flask, receiver: Receiver, worker: None
) -> None:
    client_id, secret = subscribed(app, receiver)
    room(app, "atlas")
    receiver.failures = [500, 503]
    now = datetime.now(UTC)

    told = app.extensions["gateway"].change_feed.availability_changed(
        "atlas", now, now + timedelta(hours=1)
    )

    assert told == 1
    attempts = wait_for(
        lambda: len(receiver.received) >= 3 and list(receiver.received), timeout=GENEROUS
    )
    assert len({r.headers["webhook-id"] for r in attempts}) == 1  # one event, to dedupe
    for attempt in attempts:
        assert verified(secret, attempt)["data"]["room"] == "atlas"
    log = wait_for(
        lambda: [
            d
            for d in app.extensions["gateway"].change_feed.deliveries(client_id)
            if d["status"] == "delivered"
        ],
        timeout=GENEROUS,
    )
    assert log[0]["attempts"] == 3
    assert log[0]["type"] == "room.availability.changed"
    assert set(log[0]) == {"id", "type", "room", "at", "status", "answer", "attempts"}


def test_a_revoked_grant_tells_the_frontend_its_rooms_are_unbound(
    app: Flask, hosts: Hosts, receiver: Receiver, worker: None
) -> None:
    _, secret = subscribed(app, receiver)
    uid, gid, _ = hosts.hosted_room("google", "atlas")

    app.extensions["gateway"].revocation.revoke_grant(uid, gid, reason="admin", actor="admin")

    event = verified(secret, told(secret, receiver, "atlas", "unbound"))
    StatusChanged.model_validate(event)  # as the OpenAPI document's webhooks say
    assert statuses(secret, receiver, "atlas") == ["ok", "unbound"]  # bound, then revoked


def test_a_grant_the_provider_refuses_tells_the_frontend_its_rooms_need_reconnect(
    app: Flask, hosts: Hosts, receiver: Receiver, worker: None
) -> None:
    _, secret = subscribed(app, receiver)
    _, _, atlas = hosts.hosted_room("google", "atlas")
    hosts.emulator.client.fault("google.freebusy", status=401, times=-1)
    hosts.emulator.client.fault("google.token", error="invalid_grant", times=-1)

    assert hosts.status(atlas) == "needs_reconnect"

    told(secret, receiver, "atlas", "needs_reconnect")
    assert statuses(secret, receiver, "atlas") == ["ok", "needs_reconnect"]


def test_a_host_who_restricts_processing_makes_their_rooms_restricted_then_ok(
    app: Flask, hosts: Hosts, receiver: Receiver, worker: None
) -> None:
    _, secret = subscribed(app, receiver)
    uid, _, _ = hosts.hosted_room("google", "atlas")
    privacy = app.extensions["gateway"].privacy

    told(secret, receiver, "atlas", "ok")  # bound
    privacy.restrict(uid, True, actor=uid)
    told(secret, receiver, "atlas", "restricted")
    privacy.restrict(uid, False, actor=uid)
    wait_for(lambda: len(statuses(secret, receiver, "atlas")) == 3, timeout=GENEROUS)

    assert statuses(secret, receiver, "atlas") == ["ok", "restricted", "ok"]


def test_a_host_unbinding_and_binding_a_room_tells_the_frontend(
    app: Flask, hosts: Hosts, receiver: Receiver, worker: None
) -> None:
    """Not only endings: a host who disconnects a room's calendar by hand makes it
    `unbound`, connecting one makes it `ok`, and replacing it changes its availability."""
    _, secret = subscribed(app, receiver)
    uid, gid, _ = hosts.hosted_room("google", "atlas")
    rooms = app.extensions["gateway"].rooms
    told(secret, receiver, "atlas", "ok")

    assert rooms.unbind(uid, "atlas")
    told(secret, receiver, "atlas", "unbound")
    rooms.bind(uid, "atlas", gid)
    wait_for(lambda: statuses(secret, receiver, "atlas") == ["ok", "unbound", "ok"], GENEROUS)

    before = len(receiver.of_type("room.availability.changed"))
    rooms.bind(uid, "atlas", gid)  # bound again, to the same calendar: its availability
    changed = wait_for(
        lambda: receiver.of_type("room.availability.changed")[before:], timeout=GENEROUS
    )
    assert verified(secret, changed[0])["data"]["room"] == "atlas"
    assert statuses(secret, receiver, "atlas") == ["ok", "unbound", "ok"]  # still bound
    for received in receiver.received:
        for planted in PLANTED:
            assert planted.encode() not in received.body


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/hooks",
        "https://192.168.0.7/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://127.0.0.1:8443/hooks",
        "http://hooks.example.com/rooms",
        "ftp://hooks.example.com/rooms",
        "https://user:pw@hooks.example.com/rooms",
        "not a url",
        "",
    ],
)
def test_a_url_the_ssrf_rules_refuse_is_a_clear_refusal_and_nothing_is_stored(
    build_gateway: Any, make_env: Any, url: str, redis_contents: Any
) -> None:
    app = build_gateway(make_env())  # no allowlist: loopback refused as well
    services = app.extensions["gateway"]
    client, _ = services.clients.create("booking", audiences=["frontend"])
    before = redis_contents()

    with pytest.raises(InvalidWebhook) as refused:
        services.change_feed.register(client.id, url)

    assert refused.value.status == 400
    assert "webhook URL" in refused.value.message
    assert services.change_feed.endpoint(client.id) is None
    assert redis_contents() == before


def test_deleting_the_client_deletes_its_webhook_and_log(app: Flask, receiver: Receiver) -> None:
    client_id, _ = subscribed(app, receiver)
    services = app.extensions["gateway"]
    assert services.change_feed.endpoint(client_id).url == receiver.url

    services.clients.delete(client_id)

    assert services.change_feed.endpoint(client_id) is None
    assert json.dumps(services.redis.keys(f"gw:{{clients}}:{client_id}*")) == "[]"

"""Push: a bound calendar is watched through a real channel at the emulator, which delivers
its notifications over HTTP to a live gateway; a change shows in the next free/busy answer
without waiting for the TTL (an hour here), and only authenticated notifications count."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from gateway.services.callers import Caller
from gateway.storage.watches import WatchRecord
from tests.gateway.blueprints.admin_pages import bob, element, gateway_env
from tests.gateway.services.watch_support import (
    ALICE,
    at,
    live_channels,
    tomorrow,
    wait_for,
    watching_host,
)
from tests.hosts import FREEBUSY, OFFICE_HOURS, PLANTED, Hosts

__all__ = ["bob", "gateway_env"]  # the fixtures the admin page test uses (Bob is admin)

FRONTEND = Caller(kind="client", id="frontend", audiences=frozenset({"frontend"}))
EVERY_DAY = {d: h for d, h in OFFICE_HOURS.items()} | {
    d: [["08:00", "18:00"]] for d in ("friday", "saturday", "sunday")
}


@pytest.fixture
def app(build_gateway: Any, make_env: Any) -> Iterator[Flask]:
    """The gateway with an hour's TTL, also listening on a free loopback port: the address
    its channels give the emulator to deliver to."""
    gateway = build_gateway(make_env(GATEWAY_FREEBUSY_TTL_SECONDS="3600"))
    server = make_server("127.0.0.1", 0, gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway.extensions["gateway"].watches.public_url = f"http://127.0.0.1:{server.port}"
    yield gateway
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def bind_room(app: Flask, uid: str, gid: str, room_id: str = "atlas") -> str:
    services = app.extensions["gateway"]
    services.rooms.create(
        {
            "id": room_id,
            "name": room_id.title(),
            "time_zone": "UTC",
            "hours": EVERY_DAY,
            "host": uid,
            "visibility": ["frontend"],
        }
    )
    services.rooms.bind(uid, room_id, gid)
    return room_id


def busy(app: Flask, room_id: str = "atlas") -> list[tuple[str, str]]:
    start, end = tomorrow()
    answer = app.extensions["gateway"].freebusy.query(FRONTEND, [room_id], start, end)
    assert answer.rooms[room_id].status == "ok"
    return [
        (i.start.strftime("%H:%M"), i.end.strftime("%H:%M")) for i in answer.rooms[room_id].busy
    ]


def watched(app: Flask, emulator: Any, hosts: Hosts) -> tuple[str, str, dict[str, Any]]:
    uid, gid = watching_host(hosts)
    bind_room(app, uid, gid)
    [channel] = wait_for(lambda: live_channels(emulator))
    return uid, gid, channel


def record_of(app: Flask, uid: str) -> WatchRecord:
    [record] = app.extensions["gateway"].watches.store.of_user(uid)
    return record


def test_a_change_at_the_provider_shows_at_once_though_the_ttl_is_an_hour(
    app: Flask, hosts: Hosts, emulator: Any, redis_contents: Any, caplog: Any
) -> None:
    uid, _, channel = watched(app, emulator, hosts)
    assert channel["calendar_id"] == ALICE
    assert busy(app) == []
    day, _ = tomorrow()

    event = emulator.client.add_event(
        ALICE, at(day, 9), at(day, 10), summary=PLANTED[0], location=PLANTED[1]
    )
    wait_for(lambda: busy(app) == [("09:00", "10:00")], timeout=5)

    emulator.client.delete_event(event)
    wait_for(lambda: busy(app) == [], timeout=5)

    stored = redis_contents()
    secret = app.extensions["gateway"].watches.channel_secret(channel["id"])
    for planted in (*PLANTED, secret, ALICE):  # no event, no channel token, no calendar id
        assert planted not in stored
        assert planted not in caplog.text
    assert record_of(app, uid).watch_id == channel["id"]


def test_a_forged_notification_changes_nothing_and_costs_no_provider_call(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    _, _, channel = watched(app, emulator, hosts)
    assert busy(app) == []
    calls = emulator.client.calls().get("google.freebusy", 0)
    forged = {
        "X-Goog-Channel-ID": channel["id"],
        "X-Goog-Channel-Token": "0" * 64,
        "X-Goog-Resource-ID": channel["resource_id"],
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "99",
    }
    answer = app.test_client().post("/webhooks/google", headers=forged)
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "forbidden"
    time.sleep(1.0)
    assert busy(app) == []
    assert emulator.client.calls().get("google.freebusy", 0) == calls  # still cached: no call


@pytest.mark.parametrize(
    ("path", "headers", "size", "status"),
    [
        ("/webhooks/google", {}, 10, 400),
        ("/webhooks/google", {"X-Goog-Resource-State": "exists"}, 10, 400),
        ("/webhooks/google", {"X-Goog-Resource-State": "exists"}, 70_000, 413),
        ("/webhooks/nosuch", {"X-Goog-Resource-State": "exists"}, 10, 404),
        ("/webhooks/a.b", {}, 10, 404),
    ],
)
def test_what_is_not_a_notification_is_a_4xx_json_error(
    app: Flask, path: str, headers: dict[str, str], size: int, status: int
) -> None:
    answer = app.test_client().post(path, headers=headers, data=b"x" * size)
    assert answer.status_code == status
    assert answer.is_json
    assert app.test_client().get(path).status_code == 405


def test_a_storm_of_notifications_costs_a_few_provider_calls(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    _, _, channel = watched(app, emulator, hosts)
    assert busy(app) == []
    watches = app.extensions["gateway"].watches
    before = emulator.client.calls().get("google.freebusy", 0)
    client = app.test_client()
    statuses = set()
    started = time.monotonic()
    for number in range(10, 1010):
        headers = {
            "X-Goog-Channel-ID": channel["id"],
            "X-Goog-Channel-Token": watches.channel_secret(channel["id"]),
            "X-Goog-Resource-ID": channel["resource_id"],
            "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": str(number),
        }
        statuses.add(client.post("/webhooks/google", headers=headers).status_code)
    assert statuses <= {202, 429}
    storm = time.monotonic() - started
    time.sleep(2.0)
    calls = emulator.client.calls().get("google.freebusy", 0) - before
    # one read a second at most while it lasts, one after it: not one per notification
    assert 1 <= calls <= storm + 2, (calls, storm)


def test_unbinding_stops_the_channel_and_an_unknown_channel_is_stopped(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, gid, channel = watched(app, emulator, hosts)
    services = app.extensions["gateway"]
    services.rooms.unbind(uid, "atlas")
    wait_for(lambda: not live_channels(emulator))
    assert services.watches.store.of_user(uid) == []

    services.rooms.bind(uid, "atlas", gid)
    [again] = wait_for(lambda: live_channels(emulator))
    services.watches.store.remove(record_of(app, uid))  # the gateway lost its record
    day, _ = tomorrow()
    hosts.event(ALICE, at(day, 11), at(day, 12))  # its notification finds no channel
    wait_for(lambda: not live_channels(emulator), timeout=8)
    assert again["id"] != channel["id"]


@pytest.mark.parametrize("ending", ["revocation", "erasure"])
def test_revocation_and_erasure_stop_every_channel(
    app: Flask, hosts: Hosts, emulator: Any, ending: str
) -> None:
    uid, gid, channel = watched(app, emulator, hosts)
    services = app.extensions["gateway"]
    if ending == "revocation":
        services.revocation.revoke_grant(uid, gid, reason="user", actor=uid)
    else:
        services.privacy.erase(uid, actor=uid)
    assert not live_channels(emulator)  # stopped before the tokens went, not lapsed
    assert emulator.client.calls().get("google.channels_stop", 0) >= 1
    assert services.watches.store.expiring_before(float("inf")) == []

    calls = emulator.client.calls()
    late = app.test_client().post("/webhooks/google", headers=notification(app, channel, 99))
    assert late.status_code == 202  # a late notification after the ending changes nothing
    time.sleep(2.5)  # past the grace an unknown channel is given
    after = emulator.client.calls()
    for endpoint in ("google.freebusy", "google.token", "google.watch"):
        assert after.get(endpoint, 0) == calls.get(endpoint, 0), endpoint


def test_the_renewal_job_replaces_a_channel_about_to_lapse(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, _, channel = watched(app, emulator, hosts)
    services = app.extensions["gateway"]
    old = record_of(app, uid)
    services.watches.store.add(
        WatchRecord(**{**old.__dict__, "expires_at": time.time() + 600})  # lapses soon
    )
    summary = services.watches.renew(set)
    assert summary == "channels opened 1, stopped 0"
    [new] = live_channels(emulator)
    assert new["id"] != channel["id"]
    assert record_of(app, uid).watch_id == new["id"]
    assert services.watches.renew(set) == "channels opened 0, stopped 0"  # nothing due


def test_a_grant_under_the_old_consent_is_polled_and_its_host_offered_the_new_one(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, gid = watching_host(hosts, scope=FREEBUSY)
    bind_room(app, uid, gid)
    time.sleep(0.5)
    assert app.extensions["gateway"].watches.reconcile(uid) == (0, 0)
    assert not live_channels(emulator)
    assert emulator.client.calls().get("google.watch", 0) == 0
    assert busy(app) == []

    page = hosts.browsers[uid].client.get("/account").get_data(as_text=True)
    assert f'id="upgrade-{gid}"' in page
    assert "never what" in page  # the reason: what the new consent changes
    [version] = [b.version for b in app.extensions["gateway"].rooms.bindings_of(uid)]
    assert f'class="updates updates-upgrade" id="updates-atlas-{version}"' in page


def test_the_account_page_says_which_rooms_are_watched(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, gid, _ = watched(app, emulator, hosts)
    wait_for(lambda: app.extensions["gateway"].watches.watched_marks(uid))
    page = hosts.browsers[uid].client.get("/account").get_data(as_text=True)
    assert "updates updates-watched" in page
    assert f'id="upgrade-{gid}"' not in page
    assert app.extensions["gateway"].watches.room_updates("atlas") == [
        ("watched", "watched: a change shows within seconds")
    ]


def notification(app: Flask, channel: dict[str, Any], number: int) -> dict[str, str]:
    """What Google would post on `channel`, its token recomputed by `app`'s gateway."""
    return {
        "X-Goog-Channel-ID": channel["id"],
        "X-Goog-Channel-Token": app.extensions["gateway"].watches.channel_secret(channel["id"]),
        "X-Goog-Resource-ID": channel["resource_id"],
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": str(number),
    }


def test_a_forged_delivery_by_the_provider_is_refused_and_changes_nothing(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    watched(app, emulator, hosts)
    assert busy(app) == []
    calls = emulator.client.calls().get("google.freebusy", 0)
    emulator.client.delivery_fault(kind="google", forge=True)
    day, _ = tomorrow()
    emulator.client.add_event(ALICE, at(day, 13), at(day, 14))
    forged = [d for d in emulator.client.deliveries("google") if d["forged"]]
    assert [d["status"] for d in forged] == [403]
    time.sleep(1.0)
    assert busy(app) == []  # the hour's TTL holds: nothing was invalidated
    assert emulator.client.calls().get("google.freebusy", 0) == calls


def test_a_missed_notification_is_recovered_by_polling_within_the_ttl(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    watched(app, emulator, hosts)
    freshness = app.extensions["gateway"].freebusy.freshness
    freshness.ttl_seconds = freshness.watched_ttl_seconds = 5  # the fallback's bound
    assert busy(app) == []
    emulator.client.delivery_fault(kind="google", drop=True)
    day, _ = tomorrow()
    emulator.client.add_event(ALICE, at(day, 15), at(day, 16))
    assert busy(app) == []  # not told: still the cached day
    wait_for(lambda: busy(app) == [("15:00", "16:00")], timeout=8)


def test_a_notification_landing_on_another_process_refreshes_what_both_serve(
    app: Flask, hosts: Hosts, emulator: Any, build_gateway: Any, make_env: Any
) -> None:
    _, _, channel = watched(app, emulator, hosts)
    other = build_gateway(make_env(GATEWAY_FREEBUSY_TTL_SECONDS="3600"))  # same Redis
    assert busy(app) == [] and busy(other) == []
    emulator.client.delivery_fault(kind="google", drop=True)  # the first never hears
    day, _ = tomorrow()
    emulator.client.add_event(ALICE, at(day, 8), at(day, 9))
    answer = other.test_client().post("/webhooks/google", headers=notification(other, channel, 50))
    assert answer.status_code == 202
    wait_for(lambda: busy(app) == [("08:00", "09:00")], timeout=5)
    assert busy(other) == [("08:00", "09:00")]
    calls = emulator.client.calls().get("google.freebusy", 0)
    again = other.test_client().post("/webhooks/google", headers=notification(other, channel, 50))
    assert again.status_code == 202  # the same message again: taken, and ignored
    time.sleep(1.0)
    assert emulator.client.calls().get("google.freebusy", 0) == calls


def test_the_admin_room_page_says_whether_its_calendar_is_watched(
    app: Flask, hosts: Hosts, emulator: Any, client: Any, bob: str
) -> None:
    uid, gid = watching_host(hosts, scope=FREEBUSY)
    bind_room(app, uid, gid)
    page = client.get("/admin/rooms/atlas").get_data(as_text=True)
    assert "polled: give the new version of the consent" in element(page, "updates")

    _, watcher = watching_host(hosts)
    app.extensions["gateway"].rooms.bind(uid, "atlas", watcher)
    wait_for(lambda: live_channels(emulator))
    page = client.get("/admin/rooms/atlas").get_data(as_text=True)
    assert "watched: a change shows within seconds" in element(page, "updates")

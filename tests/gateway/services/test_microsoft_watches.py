"""Push from Microsoft: a bound mailbox is watched through a real Graph subscription at the
emulator, which validates the gateway's webhook and delivers over HTTP to a live gateway; a
change shows in the next free/busy answer though the TTL is an hour, only notifications
carrying the subscription's clientState count, lifecycle events renew, recreate or re-read,
and an ended grant leaves no subscription behind."""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

import pytest
from flask import Flask

from gateway.services.watch_states import UPDATES
from gateway.storage import job_runs
from gateway.storage.watches import WatchRecord
from gateway.worker import Worker
from tests.gateway.services.test_watches import app, bind_room, busy, hosts, record_of
from tests.gateway.services.watch_support import at, tomorrow, wait_for
from tests.gateway.test_worker_jobs import midday
from tests.hosts import CALENDARS, PLANTED, Hosts

__all__ = ["app", "hosts"]  # the live gateway and its hosts, as the Google push tests have them

CAROL = "carol@contoso.example"
CALENDARS_READ = "Calendars.Read"
SOON = 20.0  # a generous bound on "within seconds": the loop ends as soon as it holds


def microsoft_host(hosts: Hosts, scope: str = CALENDARS_READ) -> tuple[str, str]:
    """(uid, gid) of Carol, with a room-availability grant of `scope` at Microsoft."""
    uid, _ = hosts.authorize("microsoft", CAROL)
    connector = hosts.services.signin.connectors["microsoft"]
    redirect_uri = hosts.services.settings.redirect_uri("microsoft")
    request = connector.begin(redirect_uri, f"watch-{time.monotonic_ns()}", (scope,))
    hosts.emulator.client.authorize_next(CAROL)
    _, params = hosts.browsers[uid].at_provider(request.url)
    identity = connector.complete(redirect_uri, request.flow, params)
    return uid, str(hosts.services.grants.create(uid, "room-availability", identity).id)


def live_subscriptions(emulator: Any) -> list[dict[str, Any]]:
    return [s for s in emulator.client.subscriptions() if s["live"]]


def watched(app: Flask, emulator: Any, hosts: Hosts) -> tuple[str, str, dict[str, Any]]:
    uid, gid = microsoft_host(hosts)
    bind_room(app, uid, gid)
    [subscription] = wait_for(lambda: live_subscriptions(emulator))
    return uid, gid, subscription


def schedule_calls(emulator: Any) -> int:
    return emulator.client.calls().get("microsoft.getschedule", 0)


def post(app: Flask, *items: dict[str, Any], query: str = "") -> Any:
    return app.test_client().post(
        f"/webhooks/microsoft{query}",
        data=json.dumps({"value": list(items)}),
        content_type="application/json",
    )


def change(subscription: dict[str, Any], client_state: str) -> dict[str, Any]:
    return {
        "subscriptionId": subscription["id"],
        "changeType": "created",
        "clientState": client_state,
        "resource": "Users/x/Events/y",
    }


def test_a_change_in_the_mailbox_shows_at_once_though_the_ttl_is_an_hour(
    app: Flask, hosts: Hosts, emulator: Any, redis_contents: Any, caplog: Any
) -> None:
    uid, _, subscription = watched(app, emulator, hosts)
    assert subscription["resource"] == "me/events" and subscription["owner"] == CAROL
    assert subscription["lifecycle_url"] == subscription["notification_url"]
    assert subscription["notification_url"].endswith("/webhooks/microsoft")
    assert busy(app) == []
    day, _ = tomorrow()

    event = emulator.client.add_event(
        CAROL, at(day, 9), at(day, 10), summary=PLANTED[0], location=PLANTED[1]
    )
    wait_for(lambda: busy(app) == [("09:00", "10:00")], timeout=SOON)

    emulator.client.delete_event(event)
    wait_for(lambda: busy(app) == [], timeout=SOON)

    assert app.extensions["gateway"].watches.room_updates("atlas") == [
        ("watched", "watched: a change shows within seconds")
    ]
    record = record_of(app, uid)
    assert record.resource_id == subscription["id"]
    secret = app.extensions["gateway"].watches.channel_secret(record.watch_id)
    assert subscription["client_state"] == f"{record.watch_id}:{secret}"
    stored = redis_contents()
    for planted in (*PLANTED, secret, CAROL):  # no event, no clientState secret, no mailbox
        assert planted not in stored
        assert planted not in caplog.text


def test_a_forged_client_state_changes_nothing_and_costs_no_provider_call(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, _, subscription = watched(app, emulator, hosts)
    assert busy(app) == []
    calls = emulator.client.calls()
    watch_id = record_of(app, uid).watch_id
    for forged in (f"{watch_id}:{'0' * 64}", "forged", f"{watch_id}:"):
        answer = post(app, change(subscription, forged))
        assert answer.status_code == 403
        assert answer.get_json()["error"] == "forbidden"
    emulator.client.delivery_fault(kind="graph", forge=True)
    day, _ = tomorrow()
    emulator.client.add_event(CAROL, at(day, 13), at(day, 14))
    forged = [d for d in emulator.client.deliveries("graph") if d["forged"]]
    assert [d["status"] for d in forged] == [403]
    time.sleep(1.0)
    assert busy(app) == []  # the hour's TTL holds: nothing was invalidated
    after = emulator.client.calls()
    for endpoint in ("microsoft.getschedule", "microsoft.token", "microsoft.subscriptions"):
        assert after.get(endpoint, 0) == calls.get(endpoint, 0), endpoint


def test_reauthorization_required_extends_the_subscription_in_place(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, _, subscription = watched(app, emulator, hosts)
    services = app.extensions["gateway"]
    old = record_of(app, uid)
    services.watches.store.add(WatchRecord(**{**old.__dict__, "expires_at": time.time() + 600}))
    emulator.client.lifecycle(subscription["id"], "reauthorizationRequired")
    wait_for(lambda: record_of(app, uid).expires_at > time.time() + 86_400, timeout=SOON)
    [live] = live_subscriptions(emulator)
    assert live["id"] == subscription["id"]  # the same subscription, extended
    assert live["expiration"] > subscription["expiration"]


def test_subscription_removed_opens_another(app: Flask, hosts: Hosts, emulator: Any) -> None:
    uid, _, subscription = watched(app, emulator, hosts)
    emulator.client.lifecycle(subscription["id"], "subscriptionRemoved")
    [again] = wait_for(
        lambda: [s for s in live_subscriptions(emulator) if s["id"] != subscription["id"]],
        timeout=SOON,
    )
    # the old record goes before the new one is kept: a look in between finds none
    store = app.extensions["gateway"].watches.store
    wait_for(lambda: [r.resource_id for r in store.of_user(uid)] == [again["id"]], timeout=SOON)
    day, _ = tomorrow()
    emulator.client.add_event(CAROL, at(day, 11), at(day, 12))  # heard on the new one
    wait_for(lambda: busy(app) == [("11:00", "12:00")], timeout=SOON)


def test_a_missed_lifecycle_event_reads_the_calendar_again(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    _, _, subscription = watched(app, emulator, hosts)
    assert busy(app) == []
    emulator.client.delivery_fault(kind="graph", drop=True)  # the change itself is lost
    day, _ = tomorrow()
    emulator.client.add_event(CAROL, at(day, 15), at(day, 16))
    assert [d["outcome"] for d in emulator.client.deliveries("graph")][-1] == "dropped"
    assert busy(app) == []  # not told: still the cached day
    emulator.client.lifecycle(subscription["id"], "missed")
    wait_for(lambda: busy(app) == [("15:00", "16:00")], timeout=SOON)


@pytest.mark.parametrize("ending", ["revocation", "erasure"])
def test_revocation_and_erasure_delete_every_subscription(
    app: Flask, hosts: Hosts, emulator: Any, ending: str
) -> None:
    uid, gid, subscription = watched(app, emulator, hosts)
    secret = subscription["client_state"]
    services = app.extensions["gateway"]
    if ending == "revocation":
        services.revocation.revoke_grant(uid, gid, reason="user", actor=uid)
    else:
        services.privacy.erase(uid, actor=uid)
    assert not live_subscriptions(emulator)  # deleted before the tokens went, not lapsed
    assert services.watches.store.expiring_before(float("inf")) == []

    calls = emulator.client.calls()
    late = post(app, change(subscription, secret))
    assert late.status_code == 202  # a late notification after the ending changes nothing
    time.sleep(2.5)  # past the grace an unknown channel is given
    after = emulator.client.calls()
    for endpoint in ("microsoft.getschedule", "microsoft.token", "microsoft.subscriptions"):
        assert after.get(endpoint, 0) == calls.get(endpoint, 0), endpoint


def test_the_renewal_job_extends_a_subscription_about_to_lapse(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, _, subscription = watched(app, emulator, hosts)
    services = app.extensions["gateway"]
    old = record_of(app, uid)
    services.watches.store.add(WatchRecord(**{**old.__dict__, "expires_at": time.time() + 600}))
    assert services.watches.renew(set) == "channels opened 1, stopped 0"
    [live] = live_subscriptions(emulator)
    assert live["id"] == subscription["id"]  # PATCHed, not replaced
    assert record_of(app, uid).expires_at > time.time() + 6 * 86_400
    assert services.watches.renew(set) == "channels opened 0, stopped 0"  # nothing due


def test_a_grant_under_the_old_consent_is_polled_and_its_host_offered_the_new_one(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, gid = microsoft_host(hosts, scope=CALENDARS)
    bind_room(app, uid, gid)
    assert app.extensions["gateway"].watches.reconcile(uid) == (0, 0)
    assert not emulator.client.subscriptions()
    assert emulator.client.calls().get("microsoft.subscriptions", 0) == 0
    assert busy(app) == []

    page = hosts.browsers[uid].client.get("/account").get_data(as_text=True)
    assert f'id="upgrade-{gid}"' in page
    assert "never what" in page  # the reason: what the new consent changes


def test_unbinding_deletes_the_subscription(app: Flask, hosts: Hosts, emulator: Any) -> None:
    uid, _, _ = watched(app, emulator, hosts)
    app.extensions["gateway"].rooms.unbind(uid, "atlas")
    wait_for(lambda: not live_subscriptions(emulator))
    assert app.extensions["gateway"].watches.store.of_user(uid) == []


def test_a_failed_validation_leaves_the_mailbox_polled(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    emulator.client.delivery_fault(kind="validation", drop=True)  # the handshake never comes
    uid, gid = microsoft_host(hosts)
    bind_room(app, uid, gid)
    assert not live_subscriptions(emulator)
    assert app.extensions["gateway"].watches.room_updates("atlas") == [
        ("pending", "polled: the provider's channel is not open yet (retried every hour)")
    ]
    assert busy(app) == []  # read as before, by polling
    assert app.extensions["gateway"].watches.reconcile(uid) == (1, 0)  # the hourly retry
    assert len(live_subscriptions(emulator)) == 1


def test_a_notification_landing_on_another_process_refreshes_what_both_serve(
    app: Flask, hosts: Hosts, emulator: Any, build_gateway: Any, make_env: Any
) -> None:
    _, _, subscription = watched(app, emulator, hosts)
    other = build_gateway(make_env(GATEWAY_FREEBUSY_TTL_SECONDS="3600"))  # same Redis
    assert busy(app) == [] and busy(other) == []
    emulator.client.delivery_fault(kind="graph", drop=True)  # the first never hears
    day, _ = tomorrow()
    emulator.client.add_event(CAROL, at(day, 8), at(day, 9))
    answer = post(other, change(subscription, subscription["client_state"]))
    assert answer.status_code == 202
    wait_for(lambda: busy(app) == [("08:00", "09:00")], timeout=SOON)
    assert busy(other) == [("08:00", "09:00")]


def test_a_room_mailbox_typed_by_address_stays_polled(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    """A delegated grant may subscribe to its own mailbox only: Graph refuses the room's."""
    uid, gid = microsoft_host(hosts)
    bind_room(app, uid, gid)
    choice = hosts.services.grants.create(
        uid, "calendar-choice", hosts.identity(uid, "microsoft", CAROL)
    )
    assert choice.id
    app.extensions["gateway"].rooms.bind(uid, "atlas", gid, "room-atlas@contoso.example")
    wait_for(lambda: not live_subscriptions(emulator))  # its own mailbox's was unbound
    tried = emulator.client.calls().get("microsoft.subscriptions", 0)
    assert app.extensions["gateway"].watches.reconcile(uid) == (0, 0)
    assert app.extensions["gateway"].watches.renew(lambda: {uid}) == (
        "channels opened 0, stopped 0"
    )
    assert not live_subscriptions(emulator)
    assert emulator.client.calls().get("microsoft.subscriptions", 0) == tried  # never tried
    assert app.extensions["gateway"].watches.room_updates("atlas") == [
        ("unwatchable", UPDATES["unwatchable"])
    ]
    assert "room or shared mailbox cannot be watched" in UPDATES["unwatchable"]
    assert busy(app) == []  # read by polling, as before
    page = hosts.browsers[uid].client.get("/account").get_data(as_text=True)
    cells = r'<td class="updates updates-(\w+)" id="updates-atlas-[^"]*">([^<]*)<'
    [cell] = re.findall(cells, page)
    assert cell == ("unwatchable", html.escape(UPDATES["unwatchable"], quote=True))
    assert "not open yet" not in page


def test_a_subscription_the_gateway_lost_is_deleted_by_its_next_notification(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, _, subscription = watched(app, emulator, hosts)
    services = app.extensions["gateway"]
    services.watches.store.remove(record_of(app, uid))  # the gateway lost its record
    day, _ = tomorrow()
    emulator.client.add_event(CAROL, at(day, 11), at(day, 12))  # finds no record
    wait_for(lambda: not live_subscriptions(emulator), timeout=SOON)
    [gone] = [s for s in emulator.client.subscriptions() if s["id"] == subscription["id"]]
    assert gone["removed"]


def test_two_workers_extend_a_lapsing_subscription_once(
    app: Flask,
    hosts: Hosts,
    emulator: Any,
    redis_client: Any,
    build_gateway: Any,
    make_env: Any,
) -> None:
    """The hourly renew-watches job, run by the workers of two gateways on the same Redis
    (two machines, each with its own in-process locks): the subscription is PATCHed once."""
    uid, _, subscription = watched(app, emulator, hosts)
    services = app.extensions["gateway"]
    old = record_of(app, uid)
    services.watches.store.add(WatchRecord(**{**old.__dict__, "expires_at": time.time() + 600}))
    before = emulator.client.calls().get("microsoft.subscriptions", 0)

    other = build_gateway(make_env(GATEWAY_FREEBUSY_TTL_SECONDS="3600"))  # same Redis
    other.extensions["gateway"].watches.public_url = services.watches.public_url
    workers = [
        Worker(each, tick_seconds=0.2, clock=midday).consumer(signals=False)
        for each in (app, other)
    ]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: job_runs.last_success(redis_client, "renew-watches"), timeout=60)
        time.sleep(1.5)  # several more ticks of both workers: the hour's run is done
    finally:
        for worker in workers:
            worker.stop(graceful=True)

    assert emulator.client.calls().get("microsoft.subscriptions", 0) == before + 1
    [live] = live_subscriptions(emulator)
    assert live["id"] == subscription["id"]  # extended in place
    assert record_of(app, uid).expires_at > time.time() + 6 * 86_400

"""The states the alerts watch, read from Redis at each scrape: a provider's breaker open
now (not an event long ago), how many grants and rooms need reconnecting now (one is enough,
and the number stays until they are reconnected), and every tombstone not written."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, generate_latest

from gateway import metrics
from gateway.metrics import init_metrics
from gateway.metrics_state import BreakerStateCollector, ReconnectCountsCollector
from gateway.services.breaker import CircuitBreaker
from gateway.services.tombstones import Tombstones
from gateway.storage.breaker import BreakerStore
from gateway.storage.tombstones import TombstoneLog
from gateway.worker import gateway_jobs
from tests.deploy.test_alerts import alert_rules
from tests.gateway.test_metrics import scrape, value
from tests.hosts import Hosts


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    if "metrics" not in app.extensions:
        init_metrics(app)


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def breaker_states(client: FlaskClient) -> dict[str, float]:
    return {labels["provider"]: v for labels, v in scrape(client)["gateway_breaker_open"]}


def test_the_breaker_gauge_is_1_while_open_or_half_open_and_0_once_closed(
    app: Flask, client: FlaskClient, redis_client: Any
) -> None:
    settings = app.extensions["gateway"].settings
    providers = [p.name for p in settings.providers]
    assert breaker_states(client) == dict.fromkeys(providers, 0.0)
    store = BreakerStore(redis_client)
    breaker = CircuitBreaker(store, threshold=settings.breaker_failures, cool_down_seconds=0.3)
    opened = providers[0]

    for _ in range(settings.breaker_failures - 1):
        breaker.failure(opened)
    assert breaker_states(client)[opened] == 0  # failing, not yet open
    breaker.failure(opened)

    assert breaker_states(client) == {**dict.fromkeys(providers, 0.0), opened: 1.0}
    deadline = time.monotonic() + 10
    while store.is_open(opened):  # the cool-down ends: half-open, no probe has come yet
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert breaker.state(opened) == "half-open"
    assert breaker_states(client)[opened] == 1  # still not closed: the alert's for: holds
    breaker.success(opened)
    assert breaker.state(opened) == "closed"
    assert breaker_states(client)[opened] == 0


def count_reconnects(app: Flask) -> str:
    [job] = [j for j in gateway_jobs(app.extensions["gateway"]) if j.name == "count-reconnects"]
    return job.run()


def test_one_grant_lost_while_bound_shows_until_it_is_reconnected(
    app: Flask, client: FlaskClient, hosts: Hosts
) -> None:
    uid, gid, _ = hosts.hosted_room("google", "atlas")
    hosts.room("borealis", uid, gid)
    _, other_gid, _ = hosts.hosted_room("microsoft", "cirrus")
    assert "gateway_grants_needing_reconnect" not in scrape(client)  # never counted yet

    assert count_reconnects(app) == "grants needing reconnect 0, rooms 0"
    samples = scrape(client)
    assert value(samples, "gateway_grants_needing_reconnect") == 0
    assert value(samples, "gateway_rooms_needing_reconnect") == 0

    client_id = hosts.services.signin.connectors["google"].client_id
    hosts.emulator.client.revoke_grant("alice@example.com", client_id, "google")
    assert hosts.status("atlas") == "needs_reconnect"  # the grant ends on its next use
    assert other_gid and hosts.status("cirrus") == "ok"
    count_reconnects(app)

    samples = scrape(client)
    assert value(samples, "gateway_grants_needing_reconnect") == 1  # one is enough to alert
    assert value(samples, "gateway_rooms_needing_reconnect") == 2
    count_reconnects(app)  # the count is a state: it stays while the rooms are broken
    assert value(scrape(client), "gateway_grants_needing_reconnect") == 1

    hosts.services.rooms.unbind(uid, "atlas")  # its host dealt with one room
    count_reconnects(app)
    samples = scrape(client)
    assert value(samples, "gateway_grants_needing_reconnect") == 1
    assert value(samples, "gateway_rooms_needing_reconnect") == 1
    hosts.services.rooms.unbind(uid, "borealis")  # no room depends on the lost grant now
    assert count_reconnects(app) == "grants needing reconnect 0, rooms 0"
    assert value(scrape(client), "gateway_grants_needing_reconnect") == 0


def test_a_tombstone_not_written_is_counted_by_kind(client: FlaskClient, tmp_path: Path) -> None:
    name = "gateway_tombstone_write_failures_total"
    before = scrape(client)
    assert {labels["kind"] for labels, _ in before[name]} == {"grant-revocation", "erasure"}
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    tombstones = Tombstones(TombstoneLog(blocked))

    tombstones.user_erased("u1", destroyed={"keys": 3})
    tombstones.grant_ended("u1", "g1", provider="p", purpose="x", destroyed={})
    tombstones.user_erased("u2", destroyed={})

    after = scrape(client)
    assert value(after, name, kind="erasure") - value(before, name, kind="erasure") == 2
    assert (
        value(after, name, kind="grant-revocation") - value(before, name, kind="grant-revocation")
        == 1
    )
    Tombstones(TombstoneLog(tmp_path / "fine")).user_erased("u3", destroyed={})
    assert value(scrape(client), name, kind="erasure") == value(after, name, kind="erasure")


def test_the_alerts_watch_the_states_with_their_durations_and_severities() -> None:
    rules = alert_rules()
    breaker = rules["ConsentGatewayProviderBreakerOpen"]
    assert "gateway_breaker_open{" in breaker["expr"] and breaker["expr"].strip().endswith("== 1")
    assert (breaker["for"], breaker["labels"]["severity"]) == ("5m", "warning")
    reconnect = rules["ConsentGatewayGrantsNeedReconnect"]
    assert "gateway_grants_needing_reconnect{" in reconnect["expr"]
    assert reconnect["expr"].strip().endswith("> 0") and "increase(" not in reconnect["expr"]
    assert (reconnect["for"], reconnect["labels"]["severity"]) == ("30m", "warning")
    tombstones = rules["ConsentGatewayTombstoneWriteFailing"]
    assert "increase(gateway_tombstone_write_failures_total{" in tombstones["expr"]
    assert "[15m]" in tombstones["expr"] and tombstones["expr"].strip().endswith("> 0")
    assert "for" not in tombstones and tombstones["labels"]["severity"] == "critical"


def test_redis_not_answering_leaves_the_families_empty_and_counts_the_error() -> None:
    """A scrape must answer while Redis is away (the readiness alert says why): no state is
    guessed, and the Redis error is counted like any other."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed again: nothing listens there
    away = redis.Redis(port=port, socket_connect_timeout=0.5, decode_responses=True)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BreakerStateCollector(away, ["alpha", "beta"], threshold=5))
    registry.register(ReconnectCountsCollector(away))
    errors = metrics.REDIS_ERRORS.labels("connectionerror")
    before = errors._value.get()

    text = generate_latest(registry).decode()

    assert "# TYPE gateway_breaker_open gauge" in text
    assert "# TYPE gateway_grants_needing_reconnect gauge" in text
    assert not [line for line in text.splitlines() if not line.startswith("#")]
    assert errors._value.get() - before == 2  # one per collector, not one per provider

"""A watched calendar's cached days stay fresh for GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS
(its changes are told at once), never past its channel's end; a polled one keeps the
short TTL, and a calendar whose channel is lost is polled again at once."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from gateway.storage import keys
from gateway.storage.freebusy_cache import Entry
from gateway.storage.watches import WatchRecord
from tests.gateway.services.test_watches import app, bind_room, busy, hosts, record_of, watched
from tests.gateway.services.watch_support import live_channels, watching_host
from tests.hosts import FREEBUSY, Hosts

__all__ = ["app", "hosts"]  # the fixtures: a live gateway the emulator delivers to

POLLED_TTL = 1  # set on the running service: the short TTL a polled calendar keeps


def freebusy_calls(emulator: Any) -> int:
    return int(emulator.client.calls().get("google.freebusy", 0))


def cached(app: Flask, uid: str, gid: str) -> list[Entry]:
    """The cached days of `uid`'s grant `gid`, as the gateway stored them."""
    services = app.extensions["gateway"]
    prefix = f"{keys.user_tag(uid)}:fb:{gid}:"
    names = sorted(map(str, services.redis.scan_iter(match=prefix + "*")))
    return [e for e in services.freebusy.cache.read(names) if e is not None]


def short_polled_ttl(app: Flask) -> None:
    app.extensions["gateway"].freebusy.ttl_seconds = POLLED_TTL


def test_a_watched_calendar_keeps_its_days_past_the_polled_ttl(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, gid, _ = watched(app, emulator, hosts)
    short_polled_ttl(app)
    assert busy(app) == []
    [entry] = cached(app, uid, gid)
    channel_end = record_of(app, uid).expires_at
    assert entry.fresh_until == min(entry.fetched_at + 21600, channel_end)  # the default, 6 h
    calls = freebusy_calls(emulator)

    time.sleep(POLLED_TTL + 0.5)  # past the polled TTL
    assert busy(app) == []
    assert app.extensions["gateway"].freebusy.refresher.wait_idle(5)
    assert freebusy_calls(emulator) == calls  # still fresh: no provider call


def test_a_polled_calendar_keeps_the_short_ttl(app: Flask, hosts: Hosts, emulator: Any) -> None:
    uid, gid = watching_host(hosts, scope=FREEBUSY)  # consented before watching
    bind_room(app, uid, gid)
    short_polled_ttl(app)
    assert busy(app) == []
    assert not live_channels(emulator)
    [entry] = cached(app, uid, gid)
    assert entry.fresh_until is None  # the polled TTL
    calls = freebusy_calls(emulator)

    time.sleep(POLLED_TTL + 0.5)
    busy(app)  # expired: answered from the cache, refreshed in the background
    assert app.extensions["gateway"].freebusy.refresher.wait_idle(5)
    assert freebusy_calls(emulator) == calls + 1


def test_a_lost_channel_puts_its_days_on_the_polled_ttl_at_once(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, gid, _ = watched(app, emulator, hosts)
    short_polled_ttl(app)
    assert busy(app) == []
    calls = freebusy_calls(emulator)
    services = app.extensions["gateway"]

    services.watches.lost(record_of(app, uid))  # e.g. removed by the provider
    [entry] = cached(app, uid, gid)
    assert entry.fresh_until is None  # back on the polled TTL
    time.sleep(POLLED_TTL + 0.5)  # past it
    assert busy(app) == []  # answered (stale) at once, read again behind it
    assert services.freebusy.refresher.wait_idle(5)
    assert freebusy_calls(emulator) == calls + 1
    [entry] = cached(app, uid, gid)
    assert entry.fresh_until is None  # no channel now: the polled TTL


def test_days_cached_under_a_channel_are_fresh_no_longer_than_the_channel(
    app: Flask, hosts: Hosts, emulator: Any
) -> None:
    uid, gid, _ = watched(app, emulator, hosts)
    short_polled_ttl(app)
    services = app.extensions["gateway"]
    record = record_of(app, uid)
    ending = time.time() + POLLED_TTL + 1.5  # lapses soon, and is not renewed
    services.watches.store.add(WatchRecord(**{**record.__dict__, "expires_at": ending}))
    assert busy(app) == []
    [entry] = cached(app, uid, gid)
    assert entry.fresh_until == record_of(app, uid).expires_at  # the channel's end
    calls = freebusy_calls(emulator)

    time.sleep(ending - time.time() + 0.3)  # the channel has lapsed
    busy(app)
    assert services.freebusy.refresher.wait_idle(5)
    assert freebusy_calls(emulator) == calls + 1
    [entry] = cached(app, uid, gid)
    assert entry.fresh_until is None  # polled until the renewal job opens a channel


def test_the_watched_ttl_is_a_setting(make_env: Any, build_gateway: Any) -> None:
    gateway = build_gateway(make_env(GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS="600"))
    assert gateway.extensions["gateway"].freebusy.freshness.watched_ttl_seconds == 600

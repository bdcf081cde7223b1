"""CalDAV and ICS have no push: the worker's `check-changes` job reads each bound
calendar's version cheaply (a real Radicale's sync-token, a real feed server's conditional
GET) and reads again only the days of calendars that changed; while the checks succeed,
those days stay fresh for the watched TTL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import caldav
import pytest
import trustme
from flask import Flask
from flask.testing import FlaskClient

from gateway.storage import job_runs
from gateway.worker import GatewayConsumer, Worker, gateway_jobs
from tests.connectors.ics_server import FeedServer, publish_feed
from tests.connectors.radicale_server import Radicale, seed, start_radicale, vcalendar
from tests.gateway.test_caldav_consent import PASSWORD, connect
from tests.gateway.test_ics_consent import connect as connect_feed
from tests.gateway.typed_credential_support import bound_room, enabled, signed_in_host
from tests.hosts import FRONTEND

DAY0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(1)
SPAN = (DAY0, DAY0 + timedelta(days=1))  # tomorrow: within the re-read horizon


def busy_hour(uid: str, hour: int) -> str:
    """One VEVENT's lines: an hour tomorrow."""
    start, end = (DAY0 + timedelta(hours=h) for h in (hour, hour + 1))
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Private {uid}\r\n"
        f"DTSTART:{start.strftime(stamp)}\r\nDTEND:{end.strftime(stamp)}"
    )


def event(uid: str, hour: int) -> str:
    return vcalendar(busy_hour(uid, hour))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def radicale(tmp_path: Path, ca: trustme.CA) -> Iterator[Radicale]:
    with start_radicale(tmp_path / "radicale", ca, {"alice": PASSWORD}) as server:
        yield server


@pytest.fixture
def feed_server(ca: trustme.CA, tmp_path: Path) -> Iterator[FeedServer]:
    path = tmp_path / "feed-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    with publish_feed(ca, str(path), event("first", 9)) as published:
        yield published


@pytest.fixture
def app(
    make_env: Callable[..., dict[str, str]],
    build_gateway: Callable[[dict[str, str]], Flask],
    emulator: Any,
    ca: trustme.CA,
    tmp_path: Path,
) -> Flask:
    settings = {**enabled("caldav", tmp_path, emulator, ca), "GATEWAY_ICS_ENABLED": "1"}
    return build_gateway(make_env(**settings, GATEWAY_FREEBUSY_DEADLINE_SECONDS="3"))


@pytest.fixture
def host(app: Flask, emulator: Any) -> Iterator[tuple[FlaskClient, str]]:
    with signed_in_host(app, emulator) as signed_in:
        yield signed_in


def busy(app: Flask, room_id: str) -> list[str]:
    answer = app.extensions["gateway"].freebusy.query(FRONTEND, [room_id], *SPAN)
    found = answer.rooms[room_id]
    assert found.status == "ok", found.status
    return [i.start.strftime("%H:%M") for i in found.busy]


def caldav_room(app: Flask, host: tuple[FlaskClient, str], radicale: Radicale) -> str:
    client, uid = host
    seed(radicale, "alice", "Room calendar", [event("first", 9)])
    assert connect(client, radicale).status_code == 303
    (grant,) = app.extensions["gateway"].grants.list(uid)
    return bound_room(app, uid, grant.id, "caldav-room", "CalDAV room")


def add_event(radicale: Radicale, text: str) -> None:
    client = caldav.DAVClient(
        radicale.url, username="alice", password=PASSWORD, ssl_verify_cert=radicale.ca_path
    )
    with client:
        [calendar] = client.principal().calendars()
        calendar.save_event(text)


def check(app: Flask) -> str:
    return str(app.extensions["gateway"].change_checks.check_all())


def cached_fresh_until(app: Flask, uid: str) -> list[float | None]:
    services = app.extensions["gateway"]
    names = sorted(map(str, services.redis.scan_iter(match=f"gw:{{u:{uid}}}:fb:*")))
    return [e.fresh_until for e in services.freebusy.cache.read(names) if e is not None]


def test_a_caldav_event_shows_after_one_check_and_nothing_changed_costs_one_propfind(
    app: Flask,
    host: tuple[FlaskClient, str],
    radicale: Radicale,
    redis_contents: Callable[[], str],
) -> None:
    room = caldav_room(app, host, radicale)
    assert busy(app, room) == ["09:00"]
    assert check(app) == "same 0, changed 0, first 1, failed 0, unsupported 0"
    add_event(radicale, event("added", 11))
    assert busy(app, room) == ["09:00"]  # not told yet: the cached day (the TTL is 120 s)

    assert check(app) == "same 0, changed 1, first 0, failed 0, unsupported 0"
    sent = len(radicale.behaviour.methods)
    assert busy(app, room) == ["09:00", "11:00"]  # read again by the check: no call now
    assert radicale.behaviour.methods[sent:] == []

    radicale.behaviour.methods.clear()
    radicale.behaviour.bodies.clear()
    assert check(app) == "same 1, changed 0, first 0, failed 0, unsupported 0"
    assert radicale.behaviour.methods == ["PROPFIND"]  # the cheap check, no REPORT
    assert b"sync-token" in radicale.behaviour.bodies[0]
    stored = redis_contents()
    calendar_url = str(app.extensions["gateway"].change_checks.calendars()[0].calendar)
    for private in ("Private first", "Private added", calendar_url):
        assert private not in stored  # no event text, no calendar address: a keyed hash


def test_checked_days_keep_the_watched_ttl_until_a_check_fails(
    app: Flask, host: tuple[FlaskClient, str], radicale: Radicale
) -> None:
    _, uid = host
    room = caldav_room(app, host, radicale)
    busy(app, room)
    assert cached_fresh_until(app, uid) == [None]  # never checked yet: the polled TTL
    check(app)
    add_event(radicale, event("added", 11))
    check(app)  # changed: read again, now under the watched TTL
    [until] = cached_fresh_until(app, uid)
    assert until is not None and until > time.time() + 3000  # about an hour

    radicale.set_password("alice", "changed-at-the-server")
    assert check(app) == "same 0, changed 0, first 0, failed 1, unsupported 0"
    assert cached_fresh_until(app, uid) == [None]  # back on the polled TTL (served stale)


def test_an_ics_feed_is_checked_by_conditional_get(
    app: Flask, host: tuple[FlaskClient, str], feed_server: FeedServer
) -> None:
    client, uid = host
    assert connect_feed(client, feed_server.url).status_code == 303
    (grant,) = app.extensions["gateway"].grants.list(uid)
    room = bound_room(app, uid, grant.id, "ics-room", "ICS room")
    assert busy(app, room) == ["09:00"]
    assert check(app) == "same 0, changed 0, first 1, failed 0, unsupported 0"
    downloads = feed_server.publisher.count(200)
    assert check(app) == "same 1, changed 0, first 0, failed 0, unsupported 0"
    assert feed_server.publisher.count(200) == downloads  # a 304

    feed_server.publisher.publish(
        vcalendar(busy_hour("first", 9), busy_hour("more", 14)), etag='"v2"'
    )
    assert check(app) == "same 0, changed 1, first 0, failed 0, unsupported 0"
    assert busy(app, room) == ["09:00", "14:00"]


def test_two_workers_check_each_calendar_once_a_period(
    app: Flask, host: tuple[FlaskClient, str], radicale: Radicale
) -> None:
    caldav_room(app, host, radicale)
    noon = time.time() // 60 * 60 + 30  # one minute's period, whatever the hour
    jobs = [j for j in gateway_jobs(app.extensions["gateway"]) if j.name == "check-changes"]
    radicale.behaviour.bodies.clear()
    consumers: list[GatewayConsumer] = []
    try:
        for _ in range(2):
            worker = Worker(app, jobs=jobs, tick_seconds=0.2, clock=lambda: noon)
            consumers.append(worker.consumer(signals=False))
            consumers[-1].start()
        redis = app.extensions["gateway"].redis
        deadline = time.monotonic() + 30
        while not job_runs.last_success(redis, "check-changes"):
            assert time.monotonic() < deadline, "the job did not run"
            time.sleep(0.1)
        time.sleep(1.5)  # several more ticks of both workers: the period's run is done
    finally:
        for consumer in consumers:
            consumer.stop(graceful=True)
    checks = [b for b in radicale.behaviour.bodies if b"sync-token" in b]
    assert len(checks) == 1


def test_the_account_page_says_a_caldav_room_is_checked_for_changes(
    app: Flask, host: tuple[FlaskClient, str], radicale: Radicale
) -> None:
    client, uid = host
    room = caldav_room(app, host, radicale)
    [version] = [b.version for b in app.extensions["gateway"].rooms.bindings_of(uid)]
    page = client.get("/account").get_data(as_text=True)
    assert f'class="updates updates-checked" id="updates-{room}-{version}"' in page
    assert "checked for changes every minute" in page
    assert 'id="upgrade-' not in page  # no consent to upgrade: CalDAV has no channels

"""What the push benchmarks share (issue 15): the in-process gateway also served over HTTP
at the stack's public URL (where the emulator delivers channel notifications), and hosts
whose Google grants may watch (calendar.events.freebusy) or may not (calendar.freebusy:
polled), each with a room open all day tomorrow; `watched_and_polled` is the setup both
bench/push_calls.py and bench/push_latency.py start with."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from werkzeug.serving import make_server

from bench.scenario import Scenario
from gateway.services.callers import Caller
from gateway.storage.users import LinkedIdentity

WATCHED_SCOPE = "https://www.googleapis.com/auth/calendar.events.freebusy"
POLLED_SCOPE = "https://www.googleapis.com/auth/calendar.freebusy"
CALLER = Caller(kind="client", id="bench", audiences=frozenset({"bench"}))
ALL_DAY = {d: [["00:00", "24:00"]] for d in ("monday", "tuesday", "wednesday", "thursday")} | {
    d: [["00:00", "24:00"]] for d in ("friday", "saturday", "sunday")
}


def tomorrow() -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(1)
    return start, start + timedelta(days=1)


@contextmanager
def serving(scenario: Scenario) -> Iterator[None]:
    """The scenario's app on its public URL (loopback http: the emulator delivers there)."""
    server = make_server("127.0.0.1", scenario.stack.port, scenario.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def google_host(scenario: Scenario, n: int, scope: str) -> tuple[str, str, str]:
    """A new Google host at the emulator with a room-availability grant of `scope`;
    (uid, gid, e-mail)."""
    email = f"push{n}-{secrets.token_hex(3)}@example.com"
    scenario.emulator.client.add_account(email, f"Host {n}", "google")
    services = scenario.services
    connector = services.signin.connectors["google"]
    redirect_uri = services.settings.redirect_uri("google")
    request = connector.begin(redirect_uri, secrets.token_urlsafe(12), (scope,))
    scenario.emulator.client.authorize_next(email)
    identity = connector.complete(redirect_uri, request.flow, scenario._answer(request.url))
    uid = services.users.create_with_identity(
        LinkedIdentity("google", identity.subject, None, f"Host {n}", 0.0)
    )
    gid = services.grants.create(uid, "room-availability", identity).id
    return uid, str(gid), email


def room_of(scenario: Scenario, uid: str, gid: str, room_id: str) -> str:
    """A room open all day every day, hosted by `uid`, bound to grant `gid`."""
    scenario.services.rooms.create(
        {
            "id": room_id,
            "name": room_id,
            "time_zone": "UTC",
            "hours": ALL_DAY,
            "host": uid,
            "visibility": ["bench"],
        }
    )
    scenario.services.rooms.bind(uid, room_id, gid)
    return room_id


def live_channels(scenario: Scenario) -> int:
    return sum(1 for c in scenario.emulator.client.channels() if c["live"])


def wait_for_channels(scenario: Scenario, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while live_channels(scenario) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {live_channels(scenario)} of {count} channels opened")
        time.sleep(0.05)


@dataclass
class Hosted:
    """Hosts of one kind (watched or polled), each with one room: in the same order."""

    uids: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)


def hosts_and_rooms(scenario: Scenario, count: int, scope: str, name: str) -> Hosted:
    """`count` new Google hosts with grants of `scope`, each with a room `name-n`."""
    hosted = Hosted()
    for n in range(count):
        uid, gid, email = google_host(scenario, n, scope)
        hosted.uids.append(uid)
        hosted.emails.append(email)
        hosted.rooms.append(room_of(scenario, uid, gid, f"{name}-{n}"))
    return hosted


@contextmanager
def watched_and_polled(count: int, **settings: str) -> Iterator[tuple[Scenario, Hosted, Hosted]]:
    """A scenario with these settings served on its public URL, `count` watched hosts
    whose channels are open, and `count` polled hosts, each host with one room."""
    with Scenario(**settings) as scenario, serving(scenario):
        watched = hosts_and_rooms(scenario, count, WATCHED_SCOPE, "watched")
        wait_for_channels(scenario, count)
        polled = hosts_and_rooms(scenario, count, POLLED_SCOPE, "polled")
        yield scenario, watched, polled

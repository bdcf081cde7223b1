"""For the push tests: a live gateway the emulator delivers to, hosts whose grants may watch
(calendar.events.freebusy), and waiting on what the emulator sees."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.hosts import Hosts

EVENTS_FREEBUSY = "https://www.googleapis.com/auth/calendar.events.freebusy"
ALICE = "alice@example.com"


def tomorrow() -> tuple[datetime, datetime]:
    """A whole UTC day within the re-fetch horizon (yesterday on)."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(1)
    return start, start + timedelta(days=1)


def at(day: datetime, hour: int) -> str:
    return (day + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def watching_host(hosts: Hosts, scope: str = EVENTS_FREEBUSY) -> tuple[str, str]:
    """(uid, gid) of Alice, with a room-availability grant of `scope` at Google."""
    uid, _ = hosts.authorize("google", ALICE)
    connector = hosts.services.signin.connectors["google"]
    redirect_uri = hosts.services.settings.redirect_uri("google")
    request = connector.begin(redirect_uri, f"watch-{time.monotonic_ns()}", (scope,))
    hosts.emulator.client.authorize_next(ALICE)
    _, params = hosts.browsers[uid].at_provider(request.url)
    identity = connector.complete(redirect_uri, request.flow, params)
    return uid, str(hosts.services.grants.create(uid, "room-availability", identity).id)


def live_channels(emulator: Any) -> list[dict[str, Any]]:
    return [c for c in emulator.client.channels() if c["live"]]


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("not within the time allowed")

"""Provider calls per hour for idle bound rooms (issue 15): watched (Google channels) vs
polled at the 120 s TTL, while the booking frontend keeps asking for every room.

An hour is not waited for: each thing that costs provider calls is made to happen once and
its calls counted at the emulator, then multiplied by how often it happens in an hour.

- polled: every cached day expires after the TTL (120 s), and the next request's
  background refresh reads it again. Measured: the calls one expiry of every polled room's
  days costs (their days aged past the TTL, the frontend asks once); per hour: that x 3600 /
  120.
- watched: a day stays fresh for the watched TTL (GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS),
  never past its channel's end, and the hourly job replaces each channel before it lapses
  (7 days, 2 h ahead). Measured: the calls one expiry of every watched room's days costs,
  and the calls one renewal of every channel costs (each channel set to lapse within the
  renewal margin, then the job run: a new channel opened, the old one stopped); per hour:
  expiry x (3600 / watched TTL + 3600 / channel life), renewal x 3600 / channel life.
- idle: over `window` seconds the frontend asks for every room each second with nothing
  due; the calls in it (none expected) are counted and scaled to an hour, for both.

Counted: calendar calls at the emulator (freeBusy, events.watch, channels.stop). Not
counted: token refreshes (one per grant per hour either way, while each is read hourly).
Rows for the default watched TTL (an hour) and for a day (the issue's "renewals only").
Rounds repeat the measured costs; min / median / max are printed. Not a test.

    python -m bench.push_calls [--rooms 100] [--rounds 5] [--window 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.push_support import CALLER, tomorrow, wait_for_channels, watched_and_polled
from bench.report import Row, at_most
from bench.scenario import Scenario
from gateway.services.watches import RENEW_AHEAD_SECONDS, TTL_SECONDS
from gateway.storage import keys
from gateway.storage.watches import WatchRecord

POLLED_TTL = 120
ENDPOINTS = ("google.freebusy", "google.watch", "google.channels_stop")
PER_QUERY = 50  # rooms per free/busy query, as a frontend batches them
CHANNEL_LIFE = TTL_SECONDS - RENEW_AHEAD_SECONDS  # how often a channel is replaced


def calls(scenario: Scenario) -> int:
    counted = scenario.emulator.client.calls()
    return sum(counted.get(e, 0) for e in ENDPOINTS)


def ask(scenario: Scenario, rooms: list[str]) -> None:
    """The frontend asks for every room (in queries of PER_QUERY); all must be ok."""
    for at in range(0, len(rooms), PER_QUERY):
        chunk = rooms[at : at + PER_QUERY]
        answer = scenario.services.freebusy.query(CALLER, chunk, *tomorrow())
        statuses = {a.status for a in answer.rooms.values()}
        if statuses != {"ok"}:
            raise SystemExit(f"expected every room ok, got {statuses}")


def settle(scenario: Scenario) -> None:
    freebusy = scenario.services.freebusy
    freebusy.refresher.wait_idle(timeout=60)
    freebusy.fetcher.wait_idle(timeout=60)


def expire(scenario: Scenario, uids: list[str]) -> None:
    """Every cached day of these hosts expired now (fetched a TTL ago, fresh until now)."""
    client = scenario.services.redis
    now = time.time()
    for uid in uids:
        for key in client.scan_iter(f"{keys.user_tag(uid)}:fb:*"):
            entry = json.loads(client.get(key))
            entry["t"] = now - POLLED_TTL - 1
            if "f" in entry:
                entry["f"] = now - 1
            client.set(key, json.dumps(entry), keepttl=True)


def expiry_cost(scenario: Scenario, uids: list[str], rooms: list[str]) -> int:
    """Calls made when every day of these rooms expires once and the frontend asks."""
    expire(scenario, uids)
    scenario.services.freebusy.remembered.clear()  # as when the TTL ends an answer
    before = calls(scenario)
    ask(scenario, rooms)
    settle(scenario)
    return calls(scenario) - before


def renewal_cost(scenario: Scenario, uids: list[str]) -> int:
    """Calls made when every channel of these hosts is due and the hourly job runs."""
    watches = scenario.services.watches
    soon = time.time() + RENEW_AHEAD_SECONDS / 4
    for uid in uids:
        for record in watches.store.of_user(uid):
            watches.store.add(WatchRecord(**{**record.__dict__, "expires_at": soon}))
    before = calls(scenario)
    watches.renew(lambda: set(uids))
    return calls(scenario) - before


def idle_cost(scenario: Scenario, rooms: list[str], window: float) -> int:
    """Calls while the frontend asks for every room each second, nothing due."""
    before = calls(scenario)
    ends = time.monotonic() + window
    while time.monotonic() < ends:
        ask(scenario, rooms)
        time.sleep(1.0)
    settle(scenario)
    return calls(scenario) - before


def spread(values: list[float]) -> str:
    return f"min {min(values):g}  median {statistics.median(values):g}  max {max(values):g}"


def measure(rooms: int = 100, rounds: int = 5, window: float = 10.0) -> list[Row]:
    with watched_and_polled(rooms, GATEWAY_FREEBUSY_TTL_SECONDS=str(POLLED_TTL)) as (
        scenario,
        watched_hosts,
        polled_hosts,
    ):
        watched_uids, watched_rooms = watched_hosts.uids, watched_hosts.rooms
        polled_uids, polled_rooms = polled_hosts.uids, polled_hosts.rooms
        ask(scenario, watched_rooms + polled_rooms)  # every day cached
        settle(scenario)
        watched_ttl = scenario.services.freebusy.freshness.watched_ttl_seconds
        costs: dict[str, list[float]] = {k: [] for k in ("polled", "watched", "renewal")}
        for n in range(rounds):
            costs["polled"].append(expiry_cost(scenario, polled_uids, polled_rooms))
            costs["watched"].append(expiry_cost(scenario, watched_uids, watched_rooms))
            costs["renewal"].append(renewal_cost(scenario, watched_uids))
            wait_for_channels(scenario, rooms)
            print(
                f"push calls round {n + 1}: one expiry of {rooms} polled rooms"
                f" {costs['polled'][-1]:g} calls, of {rooms} watched rooms"
                f" {costs['watched'][-1]:g}, one renewal of their channels"
                f" {costs['renewal'][-1]:g}",
                flush=True,
            )
        ask(scenario, watched_rooms + polled_rooms)
        settle(scenario)
        idle_watched = idle_cost(scenario, watched_rooms, window)
        idle_polled = idle_cost(scenario, polled_rooms, window)
        for name, values in costs.items():
            print(f"push calls: {name:8} cost per event over rounds  {spread(values)}")
        print(
            f"push calls: idle {window:g} s, asked every second: watched {idle_watched},"
            f" polled {idle_polled} calls"
        )
        expiry_p, expiry_w = (statistics.median(costs[k]) for k in ("polled", "watched"))
        renewal = statistics.median(costs["renewal"])
        per_hour = 3600 / window
        polled = expiry_p * 3600 / POLLED_TTL + idle_polled * per_hour

        def watched(ttl: float) -> float:
            refills = 3600 / ttl + 3600 / CHANNEL_LIFE
            return expiry_w * refills + renewal * 3600 / CHANNEL_LIFE + idle_watched * per_hour

        print(
            f"push calls per hour, {rooms} idle rooms: polled (TTL {POLLED_TTL} s) {polled:.0f},"
            f" watched (TTL {watched_ttl} s) {watched(watched_ttl):.1f},"
            f" watched (TTL 86400 s) {watched(86400):.1f}"
        )
    return [
        Row(
            f"provider calls/hour, {rooms} idle rooms, watched (TTL {watched_ttl} s)",
            watched(watched_ttl),
            "calls",
            polled,
            f"polled, TTL {POLLED_TTL} s",
            at_most(0.01),
        ),
        Row(
            f"provider calls/hour, {rooms} idle rooms, watched (TTL 86400 s)",
            watched(86400),
            "calls",
            polled,
            f"polled, TTL {POLLED_TTL} s",
            at_most(0.01),
        ),
    ]


def main() -> None:
    from bench.report import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=float, default=10.0)
    options = parser.parse_args()
    print(table(measure(options.rooms, options.rounds, options.window)))


if __name__ == "__main__":
    main()

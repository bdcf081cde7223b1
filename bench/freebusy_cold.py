"""Cold free/busy: wall time against one provider call, provider calls against the minimum.

200 rooms across 40 host grants (half Google, half Microsoft), with the emulator answering
each free/busy call after 100 ms. The baseline is one provider call measured in the same
run, before each round; the target (issue 17) is a cold query within 1.5x of it (1,000
rooms over 200 grants: 2x), with one provider call per grant (the batching minimum: at
most 50 Google calendars / 20 Graph schedules per call). Each of `rounds` rounds queries
new rooms, and prints where the time went: wall time, the gateway's CPU (this process),
the emulator's CPU (its own process: not the gateway's GIL), TLS handshakes the gateway
made, provider calls. Then cold and warm times for 1, 10, 100 and 1,000 rooms.

    python -m bench.freebusy_cold [--latency-ms 100] [--rounds 5] [--phases]

`--phases` also prints each round's CPU per phase of the cold path (bench/freebusy_phases.py).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import ssl
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.freebusy_phases import PhaseTimers
from bench.report import Row, at_most, over_rounds, table
from bench.scenario import Scenario
from gateway.services.callers import Caller
from gateway.services.freebusy_answer import MAX_ROOMS

START = datetime(2026, 11, 25, tzinfo=UTC)
END = datetime(2026, 11, 26, tzinfo=UTC)
CALLER = Caller(kind="client", id="bench", audiences=frozenset({"bench"}))
ENDPOINTS = ("google.freebusy", "microsoft.getschedule")


def provider_calls(scenario: Scenario) -> int:
    calls = scenario.emulator.client.calls()
    return sum(calls.get(e, 0) for e in ENDPOINTS)


def ask(scenario: Scenario, rooms: list[str]) -> float:
    """Seconds to answer for `rooms` in one service call (the growth table goes past the
    API's per-call limit on purpose: it measures the service, not the limit)."""
    scenario.services.freebusy.max_rooms = max(MAX_ROOMS, len(rooms))
    started = time.perf_counter()
    for at in range(0, len(rooms), len(rooms)):
        answer = scenario.services.freebusy.query(CALLER, rooms[at : at + len(rooms)], START, END)
        unknown = [r for r, a in answer.rooms.items() if a.status != "ok"]
        if unknown:
            raise SystemExit(f"{len(unknown)} rooms unknown, e.g. {unknown[0]}")
    return time.perf_counter() - started


WARM_UP_QUERIES = 8


def warm_connections(
    scenario: Scenario, hosts: list[tuple[str, str, str]], rooms: int, label: str
) -> None:
    """Cold queries of this size until one opens no new connection (at most WARM_UP_QUERIES):
    what is measured is a cold cache, not a cold connection pool. A round's calls in flight
    at once grow as its sends go out faster, so one query was not enough: with 200 grants
    the connections to the emulator grew 71, 113, 140, 165, 173 over five queries, each
    paying 8 to 42 TLS handshakes, then none (README, "Benchmarks")."""
    pairs = [(uid, gid) for uid, gid, _ in hosts]
    for number in range(1, WARM_UP_QUERIES + 1):
        before = HANDSHAKES.count
        took = ask(scenario, scenario.rooms(rooms, pairs, prefix=f"warm{label}{number}"))
        made = HANDSHAKES.count - before
        print(
            f"cold: warm-up query {number} ({rooms} rooms, new connections): {took * 1000:7.1f} ms,"
            f" {made} TLS handshakes",
            flush=True,
        )
        if made == 0:
            return


def one_provider_call(scenario: Scenario, grant: tuple[str, str], samples: int = 5) -> float:
    """The median of `samples` free/busy calls of one Google grant (its connection kept)."""
    api = scenario.services.freebusy.apis["google"]
    token = scenario.services.grants.access_token(*grant)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        api.free_busy(token, ["primary"], START, END)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class Handshakes:
    """Counts TLS handshakes made in this process (the gateway's, to the providers)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._installed = False

    def install(self) -> None:
        if self._installed:
            return
        self._installed = True
        original = ssl.SSLSocket.do_handshake

        def counted(sock: ssl.SSLSocket, *args: Any, **kwargs: Any) -> None:
            with self._lock:
                self.count += 1
            original(sock, *args, **kwargs)

        ssl.SSLSocket.do_handshake = counted  # type: ignore[method-assign]


HANDSHAKES = Handshakes()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` so far (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def minimum_calls(grants: list[tuple[str, str, str]], rooms: int) -> int:
    """The batching minimum: per grant, its distinct calendars over the provider's batch
    size (50 Google calendars / 20 Graph schedules per call). Scenario.rooms spreads rooms
    over the grants round-robin and binds each to its host's primary calendar."""
    calendars: dict[str, set[str]] = {}
    for n in range(rooms):
        calendars.setdefault(grants[n % len(grants)][1], set()).add("primary")
    kinds = {g[1]: g[2] for g in grants}
    return sum(
        math.ceil(len(found) / (50 if kinds[gid] == "google" else 20))
        for gid, found in calendars.items()
    )


@dataclass(frozen=True)
class Round:
    """One cold query, split by where its time went (README, "Benchmarks")."""

    wall_ms: float
    baseline_ms: float  # one provider call, measured just before
    gateway_cpu_ms: float  # this process: the gateway's threads (and, in-process, the emulator)
    emulator_cpu_ms: float  # the emulator's own process (0 when it runs in this one)
    handshakes: int  # TLS handshakes the gateway made
    calls: int

    def line(self) -> str:
        return (
            f"wall {self.wall_ms:7.1f} ms ({self.wall_ms / self.baseline_ms:.2f}x one call of "
            f"{self.baseline_ms:.1f} ms)  gateway CPU {self.gateway_cpu_ms:6.1f} ms  emulator "
            f"CPU {self.emulator_cpu_ms:6.1f} ms  TLS handshakes {self.handshakes:3d}  "
            f"calls {self.calls}"
        )


def cold_rounds(*args: Any, **kwargs: Any) -> list[Round]:
    """`_cold_rounds`, the scenario frozen as deploy/gunicorn.conf.py freezes a worker: else
    a full collection walked it now and then (80-100 ms, all threads stopped: each run's
    third round 1.4-1.6x the others'). Each round prints the collector's pauses."""
    gc.collect()
    gc.freeze()
    gc.callbacks.append(_count_pauses)
    try:
        return _cold_rounds(*args, **kwargs)
    finally:
        gc.callbacks.remove(_count_pauses)
        gc.unfreeze()


def _cold_rounds(
    scenario: Scenario,
    hosts: list[tuple[str, str, str]],
    rooms: int,
    rounds: int,
    label: str,
    phases: PhaseTimers | None = None,
) -> list[Round]:
    """`rounds` cold queries of `rooms` new rooms each over `hosts`' grants (with `phases`,
    each round's CPU per phase printed after it)."""
    pairs = [(uid, gid) for uid, gid, _ in hosts]
    emulator_pid = getattr(scenario.emulator, "pid", None)
    found = []
    for number in range(rounds):
        batch = scenario.rooms(rooms, pairs, prefix=f"{label}{number}")
        baseline = one_provider_call(scenario, pairs[0], samples=3)
        before_calls, before_tls = provider_calls(scenario), HANDSHAKES.count
        emulator_before = cpu_seconds(emulator_pid)
        cpu_before, paused_before = time.process_time(), GC_PAUSES[0]
        wall = ask(scenario, batch)
        cpu = time.process_time() - cpu_before
        paused = (GC_PAUSES[0] - paused_before) * 1000
        found.append(
            Round(
                wall * 1000,
                baseline * 1000,
                cpu * 1000,
                (cpu_seconds(emulator_pid) - emulator_before) * 1000,
                HANDSHAKES.count - before_tls,
                provider_calls(scenario) - before_calls,
            )
        )
        print(
            f"cold {label} round {number + 1}: {found[-1].line()}  gc {paused:5.1f} ms", flush=True
        )
        if phases is not None:
            print("\n".join(phases.lines()), flush=True)
    return found


GC_PAUSES = [0.0, 0.0]  # seconds the collector stopped this process for; when the last began


def _count_pauses(phase: str, _info: dict[str, int]) -> None:
    now = time.perf_counter()
    GC_PAUSES[0] += 0.0 if phase == "start" else now - GC_PAUSES[1]
    GC_PAUSES[1] = now


def rows_for(found: list[Round], rooms: int, grants: int, latency_ms: int, bound: float) -> Row:
    return over_rounds(
        f"cold free/busy, {rooms} rooms / {grants} grants",
        [r.wall_ms for r in found],
        "ms",
        [r.baseline_ms for r in found],
        f"one provider call, {latency_ms} ms latency",
        at_most(bound),
    )


def measure(
    latency_ms: int = 100,
    grants: int = 40,
    rooms: int = 200,
    rounds: int = 5,
    big: tuple[int, int] | None = (1000, 200),
    growth: tuple[int, ...] = (1, 10, 100, 1000),
    own_process: bool = True,
    phases: bool = False,
) -> list[Row]:
    """Cold query time against one provider call over `rounds` (and for the `big` rooms /
    grants), provider calls against the minimum, and (printed only) the growth table."""
    HANDSHAKES.install()
    with Scenario(own_process, GATEWAY_FREEBUSY_DEADLINE_SECONDS="20") as scenario:
        hosts: list[tuple[str, str, str]] = []
        wanted = max(grants, big[1] if big else 0)
        for n in range(wanted):
            provider = "google" if n % 2 == 0 else "microsoft"
            hosts.append((*scenario.host(provider, n), provider))
        for endpoint in ENDPOINTS:
            scenario.emulator.client.fault(endpoint, delay_ms=latency_ms, times=-1)
        used = hosts[:grants]
        warm_connections(scenario, used, rooms, "")
        timers = PhaseTimers() if phases else None
        if timers is not None:
            timers.install(scenario.services.freebusy)
            timers.lines()  # from the rounds on
        found = cold_rounds(scenario, used, rooms, rounds, "cold", timers)
        least = minimum_calls(used, rooms)
        print(f"cold: provider calls {[r.calls for r in found]} (minimum {least})")
        result = [
            rows_for(found, rooms, grants, latency_ms, 1.5),
            Row(
                f"cold free/busy, provider calls ({rooms} rooms)",
                max(r.calls for r in found),
                "calls",
                least,
                "batching minimum",
                at_most(1.0),
            ),
        ]
        if big:
            warm_connections(scenario, hosts[: big[1]], big[0], "big")
            if timers is not None:
                timers.lines()
            many = cold_rounds(scenario, hosts[: big[1]], big[0], rounds, "big", timers)
            result.append(rows_for(many, big[0], big[1], latency_ms, 2.0))
        if growth:
            print("cold growth: rooms  grants  provider calls  cold ms  warm ms")
        for count in growth:
            some_hosts = hosts[: min(grants, max(1, count // 5))]
            some = scenario.rooms(count, [(u, g) for u, g, _ in some_hosts], prefix=f"g{count}")
            calls = provider_calls(scenario)
            cold_growth = ask(scenario, some)
            calls = provider_calls(scenario) - calls
            warm = ask(scenario, some)
            print(
                f"cold growth: {count:5d}  {len(some_hosts):6d}  {calls:14d}  "
                f"{cold_growth * 1000:7.1f}  {warm * 1000:7.1f}",
                flush=True,
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--grants", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-big", action="store_true", help="skip 1,000 rooms / 200 grants")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth table")
    parser.add_argument("--in-process", action="store_true", help="the emulator in this process")
    parser.add_argument("--phases", action="store_true", help="each round's CPU per phase")
    options = parser.parse_args()
    rows = measure(
        options.latency_ms,
        options.grants,
        rounds=options.rounds,
        big=None if options.no_big else (1000, 200),
        growth=() if options.no_growth else (1, 10, 100, 1000),
        own_process=not options.in_process,
        phases=options.phases,
    )
    print(table(rows))


if __name__ == "__main__":
    main()

"""Cold free/busy: wall time against one provider call, provider calls against the minimum.

200 rooms across 40 host grants (half Google, half Microsoft), with the emulator answering
each free/busy call after 100 ms. The baseline is one provider call measured in the same
run; the target is a cold query within 3x of it, with one provider call per grant (the
batching minimum: at most 50 Google calendars / 20 Graph schedules per call). Then a growth
table: cold and warm times for 1, 10, 100 and 1,000 rooms.

    python -m bench.freebusy_cold [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from datetime import UTC, datetime

from bench.report import Row, at_most, table
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


def one_provider_call(scenario: Scenario, grant: tuple[str, str]) -> float:
    api = scenario.services.freebusy.apis["google"]
    token = scenario.services.grants.access_token(*grant)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        api.free_busy(token, ["primary"], START, END)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


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


def measure(
    latency_ms: int = 100,
    grants: int = 40,
    rooms: int = 200,
    growth: tuple[int, ...] = (1, 10, 100, 1000),
) -> list[Row]:
    """Cold query time against one provider call, provider calls against the minimum, and
    (printed only) the growth table."""
    with Scenario(GATEWAY_FREEBUSY_DEADLINE_SECONDS="20") as scenario:
        hosts = []
        for n in range(grants):
            provider = "google" if n % 2 == 0 else "microsoft"
            hosts.append((*scenario.host(provider, n), provider))
        pairs = [(uid, gid) for uid, gid, _ in hosts]
        for endpoint in ENDPOINTS:
            scenario.emulator.client.fault(endpoint, delay_ms=latency_ms, times=-1)
        baseline = one_provider_call(scenario, pairs[0])

        first = ask(scenario, scenario.rooms(rooms, pairs, prefix="first"))
        batch = scenario.rooms(rooms, pairs, prefix="cold")
        before = provider_calls(scenario)
        cold = ask(scenario, batch)
        made = provider_calls(scenario) - before
        least = minimum_calls(hosts, rooms)
        print(f"cold: one provider call (baseline) {baseline * 1000:8.1f} ms", flush=True)
        print(f"cold: new connections              {first * 1000:8.1f} ms")
        print(f"cold: {rooms} rooms, {grants} grants        {cold * 1000:8.1f} ms")
        print(f"cold: provider calls {made} (minimum {least})")

        if growth:
            print("cold growth: rooms  grants  provider calls  cold ms  warm ms")
        for count in growth:
            used = hosts[: min(len(hosts), max(1, count // 5))]
            some = scenario.rooms(count, [(u, g) for u, g, _ in used], prefix=f"growth{count}")
            calls = provider_calls(scenario)
            cold_growth = ask(scenario, some)
            calls = provider_calls(scenario) - calls
            warm = ask(scenario, some)
            print(
                f"cold growth: {count:5d}  {len(used):6d}  {calls:14d}  "
                f"{cold_growth * 1000:7.1f}  {warm * 1000:7.1f}",
                flush=True,
            )
    return [
        Row(
            f"cold free/busy, {rooms} rooms / {grants} grants",
            cold * 1000,
            "ms",
            baseline * 1000,
            f"one provider call, {latency_ms} ms latency",
            at_most(3.0),
        ),
        Row(
            f"cold free/busy, provider calls ({rooms} rooms)",
            made,
            "calls",
            least,
            "batching minimum",
            at_most(1.0),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--grants", type=int, default=40)
    options = parser.parse_args()
    print(table(measure(options.latency_ms, options.grants)))


if __name__ == "__main__":
    main()

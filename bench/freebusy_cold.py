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

from bench.scenario import Scenario
from gateway.services.callers import Caller
from gateway.services.freebusy import MAX_ROOMS

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
    per_grant: dict[str, int] = {}
    for n in range(rooms):
        gid = grants[n % len(grants)][1]
        per_grant[gid] = per_grant.get(gid, 0) + 1
    kinds = {g[1]: g[2] for g in grants}
    return sum(
        math.ceil(count / (50 if kinds[gid] == "google" else 20))
        for gid, count in per_grant.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--grants", type=int, default=40)
    options = parser.parse_args()

    scenario = Scenario(GATEWAY_FREEBUSY_DEADLINE_SECONDS="20")
    try:
        grants = []
        for n in range(options.grants):
            provider = "google" if n % 2 == 0 else "microsoft"
            grants.append((*scenario.host(provider, n), provider))
        pairs = [(uid, gid) for uid, gid, _ in grants]
        for endpoint in ENDPOINTS:
            scenario.emulator.client.fault(endpoint, delay_ms=options.latency_ms, times=-1)
        baseline = one_provider_call(scenario, pairs[0])

        first = ask(scenario, scenario.rooms(200, pairs, prefix="first"))
        rooms = scenario.rooms(200, pairs, prefix="cold")
        before = provider_calls(scenario)
        cold = ask(scenario, rooms)
        made = provider_calls(scenario) - before
        print(f"one provider call (baseline)   {baseline * 1000:8.1f} ms")
        print(f"cold, new connections          {first * 1000:8.1f} ms")
        print(f"cold: 200 rooms, {len(grants)} grants      {cold * 1000:8.1f} ms")
        print(f"ratio cold / one call          {cold / baseline:8.2f}   (target <= 3)")
        print(f"provider calls                 {made:8d}   (minimum {minimum_calls(grants, 200)})")

        print("\nrooms  grants  provider calls  cold ms  warm ms")
        for count in (1, 10, 100, 1000):
            used = grants[: min(len(grants), max(1, count // 5))]
            batch = scenario.rooms(count, [(u, g) for u, g, _ in used], prefix=f"growth{count}")
            before = provider_calls(scenario)
            cold = ask(scenario, batch)
            made = provider_calls(scenario) - before
            warm = ask(scenario, batch)
            print(f"{count:5d}  {len(used):6d}  {made:14d}  {cold * 1000:7.1f}  {warm * 1000:7.1f}")
    finally:
        scenario.close()


if __name__ == "__main__":
    main()

"""Free/busy while the provider is slow: cached (stale) days answered at once, vs the warm path.

Issue 15 item 7: a 5 s provider delay used to hold booking requests up to the 8 s deadline.
Now a span whose days are cached, even expired (within the stale bound), is answered from
the cache and refreshed in the background. This benchmark makes 10 host grants (half Google,
half Microsoft) and 50 rooms, fills the cache, then per round:

- warm: REQUESTS queries of the 50 rooms with every day fresh (the normal warm path);
- stale: every cached day aged past the TTL, the emulator holding each free/busy call for
  `delay_ms` (5 s), REQUESTS queries of the same rooms; each must answer "ok", stale.

It prints each round's median per-request time of both and their ratio, then min / median /
max over the rounds, and how many requests were answered while the provider held its calls.
Rows: the stale median against the warm median (same run), and the slowest stale request
against the provider's delay (target: a small fraction of it, the point of item 7). In
process, one thread: it measures the service, not HTTP. Not a test.

    python -m bench.freebusy_stale [--delay-ms 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime

from bench.report import Row, at_most
from bench.scenario import Scenario
from gateway.services.callers import Caller
from gateway.storage import keys

START = datetime(2026, 11, 25, tzinfo=UTC)
END = datetime(2026, 11, 26, tzinfo=UTC)
CALLER = Caller(kind="client", id="bench", audiences=frozenset({"bench"}))
ENDPOINTS = ("google.freebusy", "microsoft.getschedule")


def provider_calls(scenario: Scenario) -> int:
    calls = scenario.emulator.client.calls()
    return sum(calls.get(e, 0) for e in ENDPOINTS)


def age_cache(scenario: Scenario, uids: list[str], seconds: float) -> None:
    """Every cached day of these hosts `seconds` older, as if fetched that long ago."""
    client = scenario.services.redis
    for uid in uids:
        for key in client.scan_iter(f"{keys.user_tag(uid)}:fb:*"):
            entry = json.loads(client.get(key))
            entry["t"] -= seconds
            client.set(key, json.dumps(entry), keepttl=True)


def timed_queries(scenario: Scenario, rooms: list[str], count: int) -> tuple[list[float], int]:
    """Seconds per query, and how many answers held stale days; every room must be "ok"
    (never "unknown": the cache holds every day)."""
    samples, stale = [], 0
    for _ in range(count):
        started = time.perf_counter()
        answer = scenario.services.freebusy.query(CALLER, rooms, START, END)
        samples.append(time.perf_counter() - started)
        statuses = {a.status for a in answer.rooms.values()}
        if statuses != {"ok"}:
            raise SystemExit(f"expected every room ok, got {statuses}")
        stale += any(a.stale for a in answer.rooms.values())
    return samples, stale


def spread(values: list[float]) -> str:
    return f"min {min(values):.2f}  median {statistics.median(values):.2f}  max {max(values):.2f}"


def measure(
    delay_ms: int = 5000,
    grants: int = 10,
    rooms: int = 50,
    rounds: int = 5,
    requests: int = 200,
) -> list[Row]:
    with Scenario() as scenario:
        freebusy = scenario.services.freebusy
        freebusy.breaker.slow_calls = 1_000  # measure the read path, not the breaker
        hosts = [scenario.host("google" if n % 2 == 0 else "microsoft", n) for n in range(grants)]
        room_ids = scenario.rooms(rooms, hosts)
        uids = [uid for uid, _ in hosts]
        timed_queries(scenario, room_ids, 1)  # cold once: fills the cache
        warm_ms: list[float] = []
        stale_ms: list[float] = []
        ratios: list[float] = []
        slowest = 0.0
        answered = 0
        for n in range(rounds):
            scenario.emulator.client.clear_faults()
            freebusy.refresher.wait_idle(timeout=60)
            freebusy._remembered.clear()  # the warm path as after any generation bump
            timed_queries(scenario, room_ids, 1)  # fresh again if it was not
            warm, _ = timed_queries(scenario, room_ids, requests)
            for endpoint in ENDPOINTS:
                scenario.emulator.client.fault(endpoint, delay_ms=delay_ms, times=-1)
            age_cache(scenario, uids, freebusy.ttl_seconds + 10)
            calls = provider_calls(scenario)
            held_from = time.perf_counter()
            stale, marked = timed_queries(scenario, room_ids, requests)
            held_for = time.perf_counter() - held_from
            started = provider_calls(scenario) - calls  # background refreshes under way
            answered += marked  # answered from stale days: before the provider had answered
            slowest = max(slowest, max(stale))
            warm_ms.append(statistics.median(warm) * 1000)
            stale_ms.append(statistics.median(stale) * 1000)
            ratios.append(stale_ms[-1] / warm_ms[-1])
            print(
                f"stale round {n + 1}: warm median {warm_ms[-1]:.2f} ms, stale median "
                f"{stale_ms[-1]:.2f} ms ({ratios[-1]:.2f}x), slowest stale {max(stale) * 1000:.1f}"
                f" ms, {requests} requests ({marked} stale) in {held_for * 1000:.0f} ms,"
                f" {started} provider calls started behind them (each held {delay_ms} ms)",
                flush=True,
            )
        scenario.emulator.client.clear_faults()
        freebusy.refresher.wait_idle(timeout=60)
        print(f"stale: warm median ms    {spread(warm_ms)}")
        print(f"stale: stale median ms   {spread(stale_ms)}")
        print(f"stale: stale / warm      {spread(ratios)}")
        total = rounds * requests
        print(f"stale: answered from stale days while the provider was slow: {answered}/{total}")
    return [
        Row(
            f"stale free/busy, {rooms} rooms, provider {delay_ms} ms slow",
            statistics.median(stale_ms),
            "ms",
            statistics.median(warm_ms),
            "warm path, same rooms",
        ),
        Row(
            "stale free/busy, slowest request",
            slowest * 1000,
            "ms",
            float(delay_ms),
            "the provider's delay",
            at_most(0.1),
        ),
    ]


def main() -> None:
    from bench.report import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    options = parser.parse_args()
    print(table(measure(options.delay_ms, rounds=options.rounds, requests=options.requests)))


if __name__ == "__main__":
    main()

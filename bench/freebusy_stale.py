"""Free/busy while the provider is slow: cached (stale) days answered at once, vs the warm path.

Issue 15 item 7: a 5 s provider delay used to hold booking requests up to the 8 s deadline.
Now a span whose days are cached, even expired (within the stale bound), is answered from
the cache and refreshed in the background. This benchmark makes 10 host grants (half Google,
half Microsoft) and 50 rooms, fills the cache, then per round:

- warm: REQUESTS queries of the 50 rooms with every day fresh (the normal warm path);
- stale: every cached day aged past the TTL, the emulator holding each free/busy call for
  `delay_ms` (5 s), REQUESTS queries of the same rooms; each must answer "ok", stale.

The warm path and the stale one are each measured twice: as served (the worker's remembered
answer; a stale one is remembered for a moment too, issue 17) and recomputed (remembered
answers forgotten before each query, as after any generation bump). It prints each round's
medians, then min / median / max over the rounds, and how many requests were answered from
stale days while the provider held its calls. Rows: stale against warm, both recomputed
(target: no more) and both as served (same run), and the slowest stale request against
the provider's delay (target: a small fraction of it, the point of item 7). In process, one
thread: it measures the service, not HTTP. Not a test.

    python -m bench.freebusy_stale [--delay-ms 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime

from bench.report import Row, at_most, over_rounds
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


def timed_queries(
    scenario: Scenario, rooms: list[str], count: int, remembered: bool = True
) -> tuple[list[float], int]:
    """Seconds per query, and how many answers held stale days; every room must be "ok"
    (never "unknown": the cache holds every day). Without `remembered`, each query starts
    with the worker's remembered answers forgotten (as after any generation bump)."""
    freebusy = scenario.services.freebusy
    samples, stale = [], 0
    for _ in range(count):
        if not remembered:
            freebusy.remembered.clear()
        started = time.perf_counter()
        answer = freebusy.query(CALLER, rooms, START, END)
        samples.append(time.perf_counter() - started)
        statuses = {a.status for a in answer.rooms.values()}
        if statuses != {"ok"}:
            raise SystemExit(f"expected every room ok, got {statuses}")
        stale += any(a.stale for a in answer.rooms.values())
    return samples, stale


def drop_cache(scenario: Scenario, uids: list[str]) -> None:
    client = scenario.services.redis
    for uid in uids:
        for key in client.scan_iter(f"{keys.user_tag(uid)}:fb:*"):
            client.delete(key)


def spread(values: list[float]) -> str:
    return f"min {min(values):.3f}  median {statistics.median(values):.3f}  max {max(values):.3f}"


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
        warm_ms: list[float] = []
        recomputed_ms: list[float] = []
        stale_ms: list[float] = []
        stale_recomputed_ms: list[float] = []
        slowest = 0.0
        answered = 0
        for n in range(rounds):
            scenario.emulator.client.clear_faults()
            drop_cache(scenario, uids)
            freebusy.remembered.clear()
            timed_queries(scenario, room_ids, 1)  # cold: every day fetched, fresh
            warm, _ = timed_queries(scenario, room_ids, requests)
            recomputed, _ = timed_queries(scenario, room_ids, requests, remembered=False)
            for endpoint in ENDPOINTS:
                scenario.emulator.client.fault(endpoint, delay_ms=delay_ms, times=-1)
            age_cache(scenario, uids, freebusy.ttl_seconds + 10)
            freebusy.remembered.clear()  # as when the TTL ends a remembered answer
            calls = provider_calls(scenario)
            held_from = time.perf_counter()
            stale, marked = timed_queries(scenario, room_ids, requests)
            held_for = time.perf_counter() - held_from
            # the same stale answers recomputed every time (the provider still holds the call)
            stale_recomputed, _ = timed_queries(scenario, room_ids, requests, remembered=False)
            freebusy.refresher.wait_idle(timeout=60)
            behind = provider_calls(scenario) - calls  # all made by the background refresh
            answered += marked
            slowest = max(slowest, max(stale))
            warm_ms.append(statistics.median(warm) * 1000)
            recomputed_ms.append(statistics.median(recomputed) * 1000)
            stale_ms.append(statistics.median(stale) * 1000)
            stale_recomputed_ms.append(statistics.median(stale_recomputed) * 1000)
            print(
                f"stale round {n + 1}: medians warm {warm_ms[-1]:.3f} ms, warm recomputed"
                f" {recomputed_ms[-1]:.3f} ms, stale {stale_ms[-1]:.3f} ms, stale recomputed"
                f" {stale_recomputed_ms[-1]:.3f} ms; slowest stale"
                f" {max(stale) * 1000:.1f} ms; {requests} requests ({marked} stale) in"
                f" {held_for * 1000:.0f} ms; {behind} provider calls behind them, each held"
                f" {delay_ms} ms",
                flush=True,
            )
        scenario.emulator.client.clear_faults()
        print(f"stale: warm (remembered) median ms   {spread(warm_ms)}")
        print(f"stale: warm (recomputed) median ms   {spread(recomputed_ms)}")
        print(f"stale: stale median ms               {spread(stale_ms)}")
        print(f"stale: stale recomputed median ms    {spread(stale_recomputed_ms)}")
        ratios = [s / w for s, w in zip(stale_recomputed_ms, recomputed_ms, strict=True)]
        print(f"stale: both recomputed, stale / warm {spread(ratios)}")
        ratios = [s / w for s, w in zip(stale_ms, warm_ms, strict=True)]
        print(f"stale: stale / warm remembered       {spread(ratios)}")
        total = rounds * requests
        print(f"stale: answered from stale days while the provider was slow: {answered}/{total}")
    return [
        over_rounds(
            f"stale free/busy, {rooms} rooms, provider {delay_ms} ms slow, recomputed",
            stale_recomputed_ms,
            "ms",
            recomputed_ms,
            "warm, answer not remembered",
            at_most(1.0),
        ),
        over_rounds(
            "stale free/busy as served (remembered)",
            stale_ms,
            "ms",
            warm_ms,
            "warm, remembered answer",
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

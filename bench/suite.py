"""The benchmark suite: which benchmarks run, with which sizes, and the one table at the end.

Each entry names a module's `measure` function and its keyword arguments for a full run
(`make bench`, about 13 minutes on 2 cores) and for a quick one (`--quick`, and the smoke
test in tests/bench/: proves each benchmark works, measures nothing worth reading).
Modules are imported only when run, so the load generator's spawned processes, which
import the main module, stay light.
"""

from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from bench.report import Row, machine, table


@dataclass(frozen=True)
class Benchmark:
    module: str
    full: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)

    def run(self, quick: bool = False) -> list[Row]:
        measure = importlib.import_module(f"bench.{self.module}").measure
        rows: list[Row] = measure(**(self.quick if quick else self.full))
        return rows


SUITE = (
    Benchmark(
        "freebusy_warm",
        full={"seconds": 8.0, "rounds": 5, "connections": 32},
        quick={
            "seconds": 0.2,
            "rounds": 1,
            "connections": 4,
            "settle": 0.0,
            "workers": 1,
            "rooms": 5,
        },
    ),
    Benchmark(
        "freebusy_cluster",
        full={"seconds": 8.0, "rounds": 5, "connections": 32},
        quick={
            "seconds": 0.2,
            "rounds": 1,
            "connections": 4,
            "settle": 0.0,
            "workers": 1,
            "rooms": 5,
        },
    ),
    Benchmark(
        "freebusy_cold",
        full={"latency_ms": 100, "grants": 40, "rooms": 200, "rounds": 5},
        quick={"latency_ms": 0, "grants": 2, "rooms": 4, "rounds": 1, "big": None, "growth": ()},
    ),
    Benchmark(
        "freebusy_stale",
        full={"delay_ms": 5000, "grants": 10, "rooms": 50, "rounds": 5, "requests": 200},
        quick={"delay_ms": 300, "grants": 2, "rooms": 4, "rounds": 1, "requests": 3},
    ),
    Benchmark(
        "push_latency",
        full={"rounds": 5, "changes": 10, "polled_ttl": 5},
        quick={"rounds": 1, "changes": 2, "polled_ttl": 1},
    ),
    Benchmark(
        "push_calls",
        full={"rooms": 100, "rounds": 5, "window": 10.0},
        quick={"rooms": 2, "rounds": 1, "window": 1.0},
    ),
    Benchmark(
        "vault_decrypt",
        full={"grants": 200, "rounds": 7, "seconds": 1.0},
        quick={"grants": 10, "rounds": 1, "seconds": 0.05},
    ),
    Benchmark(
        "signin",
        full={"sign_ins": 20, "warmup": 8},
        quick={"sign_ins": 1, "warmup": 0, "workers": 1, "settle": 0.0},
    ),
    Benchmark(
        "scaling",
        full={"workers": (1, 2, 4), "seconds": 4.0, "rounds": 5, "connections": 32},
        quick={
            "workers": (1, 2),
            "seconds": 0.2,
            "rounds": 1,
            "connections": 4,
            "settle": 0.0,
            "rooms": 5,
        },
    ),
    Benchmark(
        "memory",
        full={"users": 20, "days": 7},
        quick={"users": 2, "days": 1, "flush_wait": 0.0},
    ),
)


def run(quick: bool = False, only: tuple[str, ...] = ()) -> int:
    """Run the suite (or the `only` modules), then print one table; 1 if any failed."""
    rows: list[Row] = []
    failed: list[str] = []
    started = time.monotonic()
    for benchmark in SUITE:
        if only and benchmark.module not in only:
            continue
        print(f"\n== bench.{benchmark.module}", flush=True)
        began = time.monotonic()
        try:
            rows += benchmark.run(quick)
        except (Exception, SystemExit):  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(benchmark.module)
        print(f"(bench.{benchmark.module}: {time.monotonic() - began:.1f} s)", flush=True)
    print(f"\n== summary ({time.monotonic() - started:.0f} s{', quick sizes' if quick else ''})")
    print(table(rows))
    print(f"\n{machine()}")
    print("Ratios are measured within one run; absolute numbers drift between runs and machines.")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0

"""CPU per provider free/busy call, the gateway's and the emulator's (issue 17, cold path).

    python -m bench.provider_cpu [--calls 400] [--rounds 5] [--profile google|microsoft]

One Google grant and one Microsoft grant at the emulator (its own process, kept-alive
connections, as `bench.freebusy_cold` runs it); each round makes `calls` free/busy calls
per provider one after the other through the connectors, with no injected latency, and
prints the CPU per call of this process (the connector and its client library) and of
the emulator's process (answering it). Serial calls measure the work itself, not GIL
hand-offs among a fan-out's threads. `--profile P` prints cProfile's costliest functions
of provider P's calls (the emulator's side: py-spy on its pid, printed at start).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from datetime import UTC, datetime

from bench.freebusy_cold import cpu_seconds
from bench.scenario import Scenario

START = datetime(2026, 11, 25, tzinfo=UTC)
END = datetime(2026, 11, 26, tzinfo=UTC)
PROVIDERS = ("google", "microsoft")


def per_call(
    scenario: Scenario, provider: str, grant: tuple[str, str], calls: int
) -> tuple[float, float]:
    """Milliseconds of CPU per call: (this process, the emulator's)."""
    api = scenario.services.freebusy.apis[provider]
    token = scenario.services.grants.access_token(*grant)
    pid = getattr(scenario.emulator, "pid", None)
    emulator_before, before = cpu_seconds(pid), time.process_time()
    for _ in range(calls):
        answer = api.free_busy(token, ["primary"], START, END, grant=grant[1])
        if answer["primary"].error is not None:
            raise SystemExit(f"{provider} answered {answer['primary'].error}")
    gateway = time.process_time() - before
    return gateway * 1000 / calls, (cpu_seconds(pid) - emulator_before) * 1000 / calls


def measure(
    calls: int = 400, rounds: int = 5, profile: str | None = None, sort: str = "tottime"
) -> dict[str, list[tuple[float, float]]]:
    """Per provider, each round's (gateway, emulator) ms of CPU per call, printed as it
    goes; with `profile`, that provider's calls under cProfile instead (nothing returned)."""
    found: dict[str, list[tuple[float, float]]] = {p: [] for p in PROVIDERS}
    with Scenario(own_process=True) as scenario:
        print(f"emulator pid {getattr(scenario.emulator, 'pid', None)}", flush=True)
        grants = {p: scenario.host(p, n) for n, p in enumerate(PROVIDERS)}
        for provider, grant in grants.items():
            per_call(scenario, provider, grant, 20)  # connections made, code warmed
        if profile:
            profiler = cProfile.Profile(time.thread_time)  # CPU, not waiting
            profiler.enable()
            per_call(scenario, profile, grants[profile], calls)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(sort).print_stats(45)
            return {}
        for number in range(rounds):
            for provider, grant in grants.items():
                found[provider].append(per_call(scenario, provider, grant, calls))
                gateway, emulator = found[provider][-1]
                print(
                    f"round {number + 1} {provider:9s}: gateway {gateway:.3f} ms/call  "
                    f"emulator {emulator:.3f} ms/call",
                    flush=True,
                )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=PROVIDERS, default=None)
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative")
    options = parser.parse_args()
    found = measure(options.calls, options.rounds, options.profile, options.sort)
    for provider, rows in found.items():
        gateways, emulators = [g for g, _ in rows], [e for _, e in rows]
        print(
            f"{provider:9s}: gateway median {statistics.median(gateways):.3f} ms/call "
            f"({min(gateways):.3f}-{max(gateways):.3f}), emulator median "
            f"{statistics.median(emulators):.3f} ms/call "
            f"({min(emulators):.3f}-{max(emulators):.3f})"
        )


if __name__ == "__main__":
    main()

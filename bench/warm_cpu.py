"""CPU per warm `POST /v1/freebusy`, the app called directly (no gunicorn, no load generator).

    python -m bench.warm_cpu [--requests 3000] [--rounds 5] [--profile 20] [--gc] [--freeze]

The same warm state as bench/freebusy_warm.py (real Redis, 50 bound rooms, a Bearer
client), then each app's WSGI callable is called in this process with one prepared
environ, and the process's CPU time per request is printed for the gateway and the bare
Flask+MGET baseline, round by round. `--profile N` also prints the gateway's N costliest
functions by own time (cProfile) over one extra round: where a warm request's CPU goes.
`--gc` also counts the garbage collector's passes in each app's rounds, per generation,
with their longest pause: what a collection adds to one request's latency (the tail);
`--freeze` runs `gc.freeze()` once both apps are built and warm, as deploy/gunicorn.conf.py
does in each worker.
Not a test; the figures are noisy on a shared machine, the ratio less so.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from bench.freebusy_warm import Warm, baseline_app, warm_gateway

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(warm: Warm) -> dict[str, Any]:
    """A WSGI environ for the warm request, as gunicorn would pass it."""
    url = urlsplit(warm.scenario.stack.public_url)
    found: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/v1/freebusy",
        "QUERY_STRING": "",
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": url.scheme,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "HTTP_HOST": url.netloc,
        "CONTENT_LENGTH": str(len(warm.body)),
    }
    for name, value in warm.headers.items():
        key = name.upper().replace("-", "_")
        found[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return found


def cpu_per_request(app: App, template: dict[str, Any], body: bytes, requests: int) -> float:
    """Milliseconds of this process's CPU per request, over `requests` calls."""
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        statuses.append(status)

    started = time.process_time()
    for _ in range(requests):
        env = dict(template, **{"wsgi.input": io.BytesIO(body)})
        result = app(env, start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    spent = time.process_time() - started
    if set(statuses) != {"200 OK"}:
        raise RuntimeError(f"unexpected answers: {sorted(set(statuses))}")
    return spent * 1000 / requests


class GcPauses:
    """The collector's passes while `app` is the one being timed: count and longest pause
    per generation, from `gc.callbacks`."""

    def __init__(self) -> None:
        self.app = ""
        self.passes: dict[tuple[str, int], list[float]] = {}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.app:
            pause = time.perf_counter() - self._started
            self.passes.setdefault((self.app, info["generation"]), []).append(pause)

    def lines(self, requests: int) -> list[str]:
        return [
            f"gc {app}: generation {generation}: {len(found)} passes in {requests} requests, "
            f"longest {1000 * max(found):.2f} ms, median {1000 * statistics.median(found):.3f} ms"
            for (app, generation), found in sorted(self.passes.items())
        ]


def cpu_rounds(
    requests: int = 3000,
    rounds: int = 5,
    profile: int = 0,
    gc_pauses: bool = False,
    freeze: bool = False,
) -> dict[str, list[float]]:
    """Gateway and baseline take turns, `rounds` times: ms of CPU per request each round."""
    pauses = GcPauses()
    if gc_pauses:
        gc.callbacks.append(pauses)
    with warm_gateway() as warm:
        os.environ["BENCH_REDIS_URL"] = warm.scenario.redis.url
        apps: dict[str, App] = {"gateway": warm.scenario.app, "baseline": baseline_app()}
        template = environ(warm)
        for app in apps.values():  # warm both: imports, caches, connections
            cpu_per_request(app, template, warm.body, min(200, requests))
        if freeze:
            gc.freeze()
        spent: dict[str, list[float]] = {name: [] for name in apps}
        for number in range(rounds):
            for name, app in apps.items():
                pauses.app = name
                spent[name].append(cpu_per_request(app, template, warm.body, requests))
                pauses.app = ""
            print(
                f"round {number + 1}: gateway {spent['gateway'][-1]:.3f} ms, "
                f"baseline {spent['baseline'][-1]:.3f} ms of CPU per request",
                flush=True,
            )
        for line in pauses.lines(requests * rounds):
            print(line, flush=True)
        if gc_pauses:
            gc.callbacks.remove(pauses)
        if freeze:
            gc.unfreeze()
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            cpu_per_request(apps["gateway"], template, warm.body, requests)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats("tottime")
            stats.print_stats(profile)
            stats.sort_stats("cumulative").print_stats(r"gateway\/|flask\/app", profile)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--gc", action="store_true", help="count the collector's passes")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() once warm")
    options = parser.parse_args()
    spent = cpu_rounds(
        options.requests, options.rounds, options.profile, options.gc, options.freeze
    )
    for name, values in spent.items():
        print(
            f"{name}: median {statistics.median(values):.3f} ms "
            f"(min {min(values):.3f}, max {max(values):.3f})",
            flush=True,
        )
    ratio = statistics.median(spent["gateway"]) / statistics.median(spent["baseline"])
    print(f"gateway / baseline: {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()

"""Warm `POST /v1/freebusy` for 50 rooms over one day, against a same-run baseline.

    python -m bench.freebusy_warm [--seconds 10] [--rounds 2] [--connections 32]

Starts a real redis-server and the provider emulator, makes a host with a
room-availability grant, 50 rooms bound to it and an API client, warms the cache once,
then runs two apps under gunicorn with deploy/gunicorn.conf.py, taking turns:

- baseline: a bare Flask app that MGETs 50 keys of ~200 B and returns them as JSON (the
  ceiling PERFORMANCE.md names for this endpoint);
- gateway: `gateway:create_app()`, `POST /v1/freebusy` with a Bearer credential (so the
  request also authenticates the client and passes the rate limiter).

Each run also prints the gunicorn workers' CPU per request (from /proc), the figure the
shared cores disturb least. The load generator (bench/load.py) shares the machine's cores
with gunicorn. Target (issue 17): gateway >= 1.0 x baseline requests/s, and p99 <= 1.0 x
baseline. Only the ratios measured in one run mean anything. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.load import Load, post_load
from bench.report import Row, Target, at_least, at_most, over_rounds
from bench.scenario import Scenario
from bench.stack import connections_per_worker, gunicorn, workers_cpu_seconds

ROOMS = 50
BASELINE_KEYS = [f"bench:baseline:{i}" for i in range(ROOMS)]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAY = {day: [["00:00", "24:00"]] for day in WEEKDAYS}
GATEWAY = "gateway:create_app()"
BASELINE = "bench.freebusy_warm:baseline_app()"


# -- the baseline app (imported by gunicorn: 'bench.freebusy_warm:baseline_app()') ---------------
def baseline_app() -> Any:
    """MGET 50 keys, return them as JSON: the ceiling for a warm free/busy read."""
    from flask import Flask, jsonify

    from gateway.storage.redis_client import connect

    app = Flask("baseline")
    client = connect(os.environ["BENCH_REDIS_URL"])

    @app.post("/v1/freebusy")
    def freebusy() -> Any:
        values = client.mget(BASELINE_KEYS)
        return jsonify(rooms=dict(zip(BASELINE_KEYS, values, strict=True)))

    return app


# -- set-up ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Warm:
    """A gateway state ready for warm free/busy load: what a load run needs."""

    scenario: Scenario
    body: bytes
    headers: dict[str, str]


@contextmanager
def warm_gateway(rooms: int = ROOMS, cluster: bool = False) -> Iterator[Warm]:
    """A host, a grant, `rooms` bound rooms, an API client, a warm cache for tomorrow, and
    the baseline's 50 keys, all in one real Redis (`cluster`: a three-master Redis Cluster,
    without the baseline's keys, which one MGET could not read across slots)."""
    with Scenario(cluster=cluster, GATEWAY_FREEBUSY_TTL_SECONDS="3600") as scenario:
        uid, gid = scenario.host("google", 0)
        services = scenario.services
        room_ids = [f"bench-{i:02d}" for i in range(rooms)]
        for room_id in room_ids:
            services.rooms.create(
                {
                    "id": room_id,
                    "name": f"Bench room {room_id}",
                    "time_zone": "Europe/Brussels",
                    "hours": ALL_DAY,
                    "host": uid,
                    "visibility": ["bench"],
                }
            )
            services.rooms.bind(uid, room_id, gid)
        from gateway.services.api_clients import ApiClientService

        _, secret = ApiClientService(services.api_clients, services.audit).create(
            "bench", audiences=["bench"], rate_limit="1000000/hour"
        )
        tomorrow = time.gmtime(time.time() + 86400)
        day = time.strftime("%Y-%m-%d", tomorrow)
        start, end = (
            f"{day}T00:00:00Z",
            time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + 2 * 86400)),
        )
        for hour in (9, 13, 16):  # a few busy blocks, so answers are not empty
            scenario.emulator.client.add_event(
                scenario.accounts[uid], f"{day}T{hour:02d}:00:00Z", f"{day}T{hour:02d}:30:00Z"
            )
        body = json.dumps({"rooms": room_ids, "timeMin": start, "timeMax": end}).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {secret}",
            "Connection": "keep-alive",
        }
        answer = scenario.app.test_client().post(
            "/v1/freebusy", data=body, headers=headers, base_url=scenario.stack.public_url
        )
        found = answer.get_json()
        statuses = (
            {r["status"] for r in found["rooms"].values()} if answer.status_code == 200 else {}
        )
        if answer.status_code != 200 or statuses != {"ok"}:
            raise SystemExit(f"warm-up failed: {answer.status_code} {statuses or found}")

        if not cluster:
            from gateway.storage.redis_client import connect

            raw = connect(scenario.redis.url)
            payload = json.dumps({"busy": [{"start": start, "end": end}] * 3, "status": "ok"})
            raw.mset({key: payload[:200].ljust(200) for key in BASELINE_KEYS})
            raw.close()
        yield Warm(scenario, body, headers)


def load_run(warm: Warm, target: str, seconds: float, connections: int, **extra: Any) -> Load:
    """One gunicorn serving `target` on the warm state, loaded for `seconds`."""
    stack = warm.scenario.stack
    env = stack.process_env(BENCH_REDIS_URL=stack.redis.url)
    if gunicorn_args := extra.pop("gunicorn_args", ""):  # more flags, both apps alike
        env["GUNICORN_CMD_ARGS"] = gunicorn_args
    log = stack.work / "gunicorn.log"
    settle = extra.pop("settle", 1.0)
    warmup = min(1.0, seconds)
    spread: list[int] = []  # connections per worker, mid-run
    probe = threading.Timer(
        warmup + seconds / 2, lambda: spread.extend(connections_per_worker(stack.port))
    )
    with gunicorn(target, stack.port, env, log, settle=settle, **extra):
        spent = workers_cpu_seconds(stack.port)
        probe.start()
        found = post_load(
            stack.port,
            "/v1/freebusy",
            warm.body,
            warm.headers,
            connections=connections,
            seconds=seconds,
            warmup=warmup,
        )
        spent = workers_cpu_seconds(stack.port) - spent
        probe.join()
    if found.rps:  # the warm-up's requests counted at the measured rate
        per_request = 1000 * spent / (found.rps * (seconds + warmup))
        print(
            f"  {target}: workers' CPU {per_request:.3f} ms per request;"
            f" connections per worker {spread}",
            flush=True,
        )
    return found


# -- the run ------------------------------------------------------------------------------------
def measure(
    seconds: float = 10.0,
    rounds: int = 5,
    connections: int = 32,
    settle: float = 1.0,
    workers: int | None = None,
    rooms: int = ROOMS,
    gunicorn_args: str = "",
) -> list[Row]:
    """Gateway and baseline take turns, `rounds` times; medians of req/s and p99 (and each
    round's gateway/baseline ratio, printed). Both run with the production config's worker
    count unless `workers` is given."""
    results: dict[str, list[Load]] = {"baseline": [], "gateway": []}
    with warm_gateway(rooms) as warm:
        for number in range(rounds):
            for name, target in (("baseline", BASELINE), ("gateway", GATEWAY)):
                found = load_run(
                    warm,
                    target,
                    seconds,
                    connections,
                    settle=settle,
                    workers=workers,
                    gunicorn_args=gunicorn_args,
                )
                results[name].append(found)
                print(f"warm round {number + 1} {name:8s}: {found.line()}", flush=True)
    print(
        f"warm config: deploy/gunicorn.conf.py, {connections} keep-alive connections, "
        f"{seconds:g} s x {rounds} rounds, {rooms} rooms, one day"
        + (f", gunicorn {gunicorn_args}" if gunicorn_args else ""),
        flush=True,
    )

    return compared(
        "warm",
        f"warm free/busy, {rooms} rooms",
        results["gateway"],
        results["baseline"],
        "bare Flask MGET 50",
        (at_least(1.0), at_most(1.0)),
    )


def compared(
    tag: str,
    name: str,
    measured: list[Load],
    baseline: list[Load],
    baseline_name: str,
    targets: tuple[Target | None, Target | None],
) -> list[Row]:
    """The req/s and p99 rows of rounds measured in turns against a baseline, each round's
    ratio printed first (the medians hide which rounds were disturbed)."""
    for field in ("rps", "p99_ms"):
        pairs = zip(measured, baseline, strict=True)
        ratios = ", ".join(
            f"{getattr(m, field) / getattr(b, field):.2f}" for m, b in pairs if getattr(b, field)
        )
        print(f"{tag} {field} ratio per round: {ratios}", flush=True)
    return [
        over_rounds(
            f"{name}: {label}",
            [getattr(m, field) for m in measured],
            unit,
            [getattr(b, field) for b in baseline],
            baseline_name,
            target,
        )
        for (field, label, unit), target in zip(
            (("rps", "req/s", "req/s"), ("p99_ms", "p99", "ms")), targets, strict=True
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--gunicorn-args", default="", help="more gunicorn flags for both apps (an experiment)"
    )
    options = parser.parse_args()
    from bench.report import table

    rows = measure(
        options.seconds, options.rounds, options.connections, gunicorn_args=options.gunicorn_args
    )
    print(table(rows))


if __name__ == "__main__":
    main()

"""Warm `POST /v1/freebusy` for 50 rooms over one day, against a same-run baseline.

    python -m bench.freebusy_warm [--seconds 10] [--rounds 2] [--connections 32]

Starts a real Redis (EmbeddedRedis in a temp dir) and the provider emulator, makes a host
with a room-availability grant, 50 rooms bound to it and an API client, warms the cache
once, then runs two apps under gunicorn with deploy/gunicorn.conf.py, taking turns:

- baseline: a bare Flask app that MGETs 50 keys of ~200 B and returns them as JSON;
- gateway: `gateway:create_app()`, `POST /v1/freebusy` with a Bearer credential (so the
  request also authenticates the client and passes the rate limiter).

The load generator is a few processes of threads, each thread one keep-alive connection
(http.client). It prints requests/s and p50/p99 latency for each, and the ratios. Target:
gateway >= 0.6 x baseline requests/s, and p99 <= 2 x baseline. Absolute numbers drift
between machines; only the ratios measured in one run mean anything. Not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
ROOMS = 50
ACCOUNT = "alice@example.com"
GOOGLE_FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
BASELINE_KEYS = [f"bench:baseline:{i}" for i in range(ROOMS)]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAY = {day: [["00:00", "24:00"]] for day in WEEKDAYS}


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


def gateway_app(env: dict[str, str] | None = None) -> Any:
    """`gateway:create_app()`, plus the API wiring while app.py does not have it yet."""
    from gateway import create_app
    from tests.gateway.blueprints.test_api_v1 import wire_api

    app = create_app(env)
    wire_api(app)
    return app


# -- set-up ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(env: dict[str, str], emulator: Any, redis_url: str) -> tuple[str, bytes]:
    """Host, grant, 50 bound rooms, an API client, a warm cache; the secret and the body."""
    from gateway.services.api_clients import ApiClientService
    from gateway.storage.redis_client import connect
    from tests.conftest import GatewayClient, SignIn
    from tests.gateway.services.test_grants import grant_for

    app = gateway_app(env)
    app.test_client_class = GatewayClient
    client = app.test_client()
    browser = SignIn(client, emulator)
    browser.complete("google", ACCOUNT)
    uid = client.get("/v1/me").get_json()["id"]
    services = app.extensions["gateway"]
    gid = grant_for(app, browser, uid)
    room_ids = [f"bench-{i:02d}" for i in range(ROOMS)]
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
    _, secret = ApiClientService(services.api_clients).create(
        "bench", audiences=["bench"], rate_limit="1000000/hour"
    )
    start = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + 86400))
    end = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + 2 * 86400))
    body = json.dumps({"rooms": room_ids, "timeMin": start, "timeMax": end}).encode()
    api = app.test_client()
    warm = api.post("/v1/freebusy", data=body, headers={"Authorization": f"Bearer {secret}"})
    answer = warm.get_json()
    statuses = {r["status"] for r in answer["rooms"].values()} if warm.status_code == 200 else {}
    if warm.status_code != 200 or statuses != {"ok"}:
        raise SystemExit(f"warm-up failed: {warm.status_code} {statuses or answer}")
    browser.http.close()

    raw = connect(redis_url)
    payload = json.dumps({"busy": [{"start": start, "end": end}] * 3, "status": "ok"})
    raw.mset({key: payload[:200].ljust(200) for key in BASELINE_KEYS})
    raw.close()
    return secret, body


@contextmanager
def gunicorn(target: str, port: int, env: dict[str, str], log: Path) -> Iterator[None]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(CONFIG),
        "--bind",
        f"127.0.0.1:{port}",
        target,
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and config
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {log}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)  # every worker up and imported
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- load ---------------------------------------------------------------------------------------
def _thread_load(
    port: int, body: bytes, headers: dict[str, str], until: float, measure_from: float, out: list
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors = [], 0
    while True:
        started = time.perf_counter()
        if started >= until:
            break
        try:
            connection.request("POST", "/v1/freebusy", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            ok = False
        finished = time.perf_counter()
        if started >= measure_from:
            if ok:
                latencies.append(finished - started)
            else:
                errors += 1
    connection.close()
    out.append((latencies, errors))


def _process_load(
    port: int,
    body: bytes,
    headers: dict[str, str],
    threads: int,
    warmup: float,
    seconds: float,
    results: Any,
) -> None:
    now = time.perf_counter()
    measure_from, until = now + warmup, now + warmup + seconds
    out: list = []
    workers = [
        threading.Thread(target=_thread_load, args=(port, body, headers, until, measure_from, out))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(([x for lat, _ in out for x in lat], sum(e for _, e in out)))


def load(
    port: int, body: bytes, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, float]:
    processes = 2
    results: Any = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(
            target=_process_load,
            args=(port, body, headers, connections // processes, 1.0, seconds, results),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    errors = 0
    for _ in workers:
        found, failed = results.get()
        latencies.extend(found)
        errors += failed
    for worker in workers:
        worker.join()
    latencies.sort()
    count = len(latencies)
    return {
        "rps": count / seconds,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (count - 1))] if latencies else float("nan"),
        "errors": errors,
    }


# -- the run ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    options = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from connectors.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start_emulator
    from gateway.crypto.keyring import new_key_entry
    from gateway.storage.embedded import EmbeddedRedis, find_redis_server
    from tests.conftest import PUBLIC_URL

    work = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    port = free_port()
    public_url = PUBLIC_URL  # the sign-in helper's; gunicorn's port differs, the host matches
    binary = shutil.which("redis-server") or find_redis_server()
    try:
        with EmbeddedRedis(work / "redis", binary=binary) as redis_server:
            clients = {
                DEFAULT_CLIENT_ID: {
                    "secret": DEFAULT_CLIENT_SECRET,
                    "redirect_uris": [f"{public_url}/auth/callback/google"],
                }
            }
            with start_emulator(ca_path=work / "ca.pem", clients=clients) as emulator:
                env = {
                    "GATEWAY_SECRET_KEY": secrets.token_urlsafe(48),
                    "GATEWAY_ENCRYPTION_KEYS": new_key_entry("v1"),
                    "GATEWAY_REDIS_URL": redis_server.url,
                    "GATEWAY_EMULATOR_URL": emulator.url,
                    "GATEWAY_CA_BUNDLE": str(emulator.ca_path),
                    "GATEWAY_PUBLIC_URL": public_url,
                    "GATEWAY_DATA_DIR": str(work / "data"),
                    "GATEWAY_FREEBUSY_TTL_SECONDS": "3600",
                    "GATEWAY_LOG_LEVEL": "WARNING",
                }
                secret, body = prepare(env, emulator, redis_server.url)
                run(options, port, env, redis_server.url, secret, body, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(
    options: Any,
    port: int,
    env: dict[str, str],
    redis_url: str,
    secret: str,
    body: bytes,
    work: Path,
) -> None:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    base_env["PYTHONPATH"] = str(ROOT)
    targets = {
        "baseline": (
            "bench.freebusy_warm:baseline_app()",
            {**base_env, "BENCH_REDIS_URL": redis_url},
        ),
        "gateway": ("bench.freebusy_warm:gateway_app()", {**base_env, **env}),
    }
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {secret}",
        "Connection": "keep-alive",
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_number in range(options.rounds):
        for name, (target, target_env) in targets.items():
            with gunicorn(target, port, target_env, work / f"{name}.log"):
                found = load(port, body, headers, options.connections, options.seconds)
            results[name].append(found)
            print(
                f"round {round_number + 1} {name:8s}: {found['rps']:8.0f} req/s  "
                f"p50 {found['p50_ms']:6.2f} ms  p99 {found['p99_ms']:6.2f} ms  "
                f"errors {found['errors']:.0f}",
                flush=True,
            )

    def median(name: str, field: str) -> float:
        return statistics.median(r[field] for r in results[name])

    rps = median("gateway", "rps") / median("baseline", "rps")
    p99 = median("gateway", "p99_ms") / median("baseline", "p99_ms")
    print(
        f"config: {CONFIG.relative_to(ROOT)}, {options.connections} keep-alive connections, "
        f"{options.seconds:.0f} s x {options.rounds} rounds, {ROOMS} rooms, one day, warm cache"
    )
    print(f"gateway/baseline req/s: {rps:.2f} (target >= 0.6)")
    print(f"gateway/baseline p99:   {p99:.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()

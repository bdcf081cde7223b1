"""A closed-loop HTTP load generator: processes of threads, one keep-alive connection each.

Standard library only, so the load processes start fast. It shares the machine's cores
with the server it loads (wrk is not a dependency), which caps what any server can show
here: compare only ratios measured in one run.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Load:
    """What one load run measured (only requests that started after the warm-up)."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    def line(self) -> str:
        return (
            f"{self.rps:8.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"errors {self.errors}"
        )


def _thread(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    measure_from: float,
    until: float,
    out: list[tuple[list[float], int]],
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    errors = 0
    while (started := time.perf_counter()) < until:
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            ok = False
        if started >= measure_from:
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
    connection.close()
    out.append((latencies, errors))


def _generate(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    threads: int,
    warmup: float,
    seconds: float,
) -> tuple[list[float], int]:
    """One load process: `threads` connections; the latencies measured and the errors."""
    now = time.perf_counter()
    out: list[tuple[list[float], int]] = []
    args = (port, path, body, headers, now + warmup, now + warmup + seconds, out)
    workers = [threading.Thread(target=_thread, args=args) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [x for found, _ in out for x in found], sum(e for _, e in out)


def post_load(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    connections: int = 32,
    seconds: float = 10.0,
    warmup: float = 1.0,
    processes: int = 2,
) -> Load:
    """POST `body` to `path` over `connections` keep-alive connections for `seconds`
    (after `warmup`), spread over `processes` load processes (`python -m bench.load`: a
    fresh interpreter each, nothing forked, nothing of the caller imported)."""
    job = {
        "port": port,
        "path": path,
        "body": body.decode(),
        "headers": headers,
        "threads": max(1, connections // processes),
        "warmup": warmup,
        "seconds": seconds,
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench.load", json.dumps(job)]
    children = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE
        )
        for _ in range(processes)
    ]
    latencies: list[float] = []
    errors = 0
    for child in children:
        out, _ = child.communicate(timeout=warmup + seconds + 120)
        if child.returncode != 0:
            raise RuntimeError(f"load generator exited with {child.returncode}")
        found = json.loads(out)
        latencies.extend(found["latencies"])
        errors += found["errors"]
    latencies.sort()
    count = len(latencies)
    if not count:
        return Load(0.0, float("nan"), float("nan"), errors)
    return Load(
        rps=count / seconds,
        p50_ms=1000 * statistics.median(latencies),
        p99_ms=1000 * latencies[int(0.99 * (count - 1))],
        errors=errors,
    )


def _main() -> None:
    job: dict[str, Any] = json.loads(sys.argv[1])
    latencies, errors = _generate(
        job["port"],
        job["path"],
        job["body"].encode(),
        job["headers"],
        job["threads"],
        job["warmup"],
        job["seconds"],
    )
    json.dump({"latencies": latencies, "errors": errors}, sys.stdout)


if __name__ == "__main__":
    _main()

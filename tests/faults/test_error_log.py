"""Errors of one kind are logged once per interval with a count, not once per request: a
Redis at its memory limit, or stopped, under a burst of requests writes a handful of lines
(issue 13, item 18: 18 s of an outage once wrote 45 MB of tracebacks)."""

from __future__ import annotations

import io
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from flask import Flask

from gateway.request_log import JsonFormatter
from gateway.storage.embedded import EmbeddedRedis
from gateway.storage.redis_client import connect
from tests.faults.support import measured

SUMMARY = re.compile(r"(.+) x (\d+) in the last \d+ s")
INTERVAL = 1  # GATEWAY_ERROR_LOG_INTERVAL_SECONDS for these tests
BURST = 300


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every record at INFO and above, as the gateway formats it (one JSON line each)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def fill(client: redis.Redis) -> None:
    """Redis at its memory limit (noeviction): some data, then the limit set below what is
    used, so every write is refused however the server's own memory moves meanwhile."""
    for filler in range(32):
        client.set(f"filler:{filler}", "x" * 65536)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", str(used - 1024 * 1024))
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.set("one-more", "x")


def return_of_a_new_sign_in(client: Any) -> str:
    """A sign-in's start writes nothing to Redis (the flow rides in a sealed cookie); its
    return to the callback claims the state there (a write), which the fault refuses."""
    started_at = client.get("/auth/login/google").headers["Location"]
    state = parse_qs(urlsplit(started_at).query)["state"][0]
    return f"/auth/callback/google?state={state}&code=never-redeemed"


@pytest.mark.parametrize("fault", ["full", "stopped"])
def test_a_failing_redis_under_a_burst_writes_a_count_not_a_line_per_request(
    build_gateway: Any, make_env: Any, own_redis: EmbeddedRedis, log_lines: Any, fault: str
) -> None:
    """Redis at maxmemory (noeviction), or stopped: 300 requests, a few lines."""
    app: Flask = build_gateway(
        make_env(
            GATEWAY_REDIS_URL=own_redis.url,
            GATEWAY_ERROR_LOG_INTERVAL_SECONDS=str(INTERVAL),
        )
    )
    client = app.test_client()
    direct = connect(own_redis.url)
    if fault == "full":
        fill(direct)
    else:
        own_redis.stop()
    started = time.monotonic()
    burst = BURST if fault == "full" else BURST // 3  # a stopped Redis takes longer per call
    statuses = [client.get(return_of_a_new_sign_in(client)).status_code for _ in range(burst)]
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 10 * INTERVAL
    tally = app.extensions.get("error_tally")
    while tally is not None and tally.pending() and time.monotonic() < deadline:
        time.sleep(0.1)  # until the last interval has closed and said its count
    if fault == "full":
        direct.config_set("maxmemory", "0")
    direct.close()

    failed = sum(1 for status in statuses if status >= 500)
    lines = [line for line in log_lines() if line["level"] == "ERROR"]
    counted = 0
    kinds = set()
    for line in lines:
        found = SUMMARY.fullmatch(line["message"])
        kind = found.group(1) if found else line["message"]
        assert ("OutOfMemoryError" if fault == "full" else "ConnectionError") in kind, line
        kinds.add(kind)
        counted += int(found.group(2)) if found else 1
        assert "Traceback" not in json.dumps(line)
    # every failure is counted, and each kind writes at most one line per interval
    # (plus its first), however many requests fail
    assert failed > burst // 2
    assert counted >= failed
    assert len(lines) <= len(kinds) * (2 + math.ceil(elapsed / INTERVAL))
    measured(
        f"{burst} requests, Redis {fault}, in {elapsed:.1f} s: {failed} failed, "
        f"{len(lines)} error lines ({', '.join(sorted(kinds))})"
    )

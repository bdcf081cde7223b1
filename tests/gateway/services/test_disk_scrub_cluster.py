"""On a Redis Cluster the disk scrub rewrites the AOF of every primary: a revoked grant's
sealed bytes leave every file of every node's data folder within the bound (the shared
three-master cluster of tests/redis_cluster.py, AOF on)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.storage import keys
from tests.faults.support import measured
from tests.hosts import Hosts
from tests.redis_cluster import each_server
from tests.security.support import csrf_token

BOUND = 4
GRACE = 10.0


@pytest.fixture
def gateway_env(gateway_env: dict[str, str]) -> dict[str, str]:
    return {**gateway_env, "GATEWAY_DISK_SCRUB_SECONDS": str(BOUND)}


def on_disk(folders: list[Path], traces: list[str]) -> list[str]:
    blobs = [p.read_bytes() for f in folders for p in f.rglob("*") if p.is_file()]
    return [t for t in traces if any(t.encode() in blob for blob in blobs)]


@pytest.mark.parametrize("redis_deployment", ["cluster"], indirect=True)
def test_a_revocation_leaves_every_primary_s_disk(
    redis_deployment: str,
    app: Flask,
    sign_in: Any,
    another_browser: Any,
    redis_client: redis.Redis,
) -> None:
    hosts = Hosts(app, sign_in, another_browser)
    uid, gid = hosts.host("google")
    traces = [str(v) for v in redis_client.hmget(keys.grant(uid, gid), ["dk", "tokens", "subject"])]
    folders = [Path(str(s.config_get("dir")["dir"])) for s in each_server(redis_client)]
    assert len(folders) == 3
    browser = another_browser()
    browser.complete("google", "alice@example.com")
    written = time.time()  # appendfsync everysec: the grant's bytes reach the file first
    while len(on_disk(folders, traces)) < len(traces):
        assert time.time() < written + GRACE, "nothing on disk: the test would prove nothing"
        time.sleep(0.1)
    answer = browser.client.post(
        f"/account/grants/{gid}/disconnect", data={"csrf_token": csrf_token(browser.client)}
    )
    assert answer.status_code == 303
    acknowledged = time.time()
    while left := on_disk(folders, traces):
        assert time.time() < acknowledged + BOUND + GRACE, f"still on disk: {left}"
        time.sleep(0.1)
    measured(
        f"item 1 (cluster, 3 primaries): a revocation's sealed bytes off every node's disk "
        f"{time.time() - acknowledged:.2f} s after it was acknowledged (bound {BOUND} s)"
    )

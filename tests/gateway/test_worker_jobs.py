"""The gateway's own jobs through the worker (gateway/worker.py, services/jobs.py): the
retention sweep ends a grant idle for longer than the catalogue allows, and the hourly
refresh keeps a rarely used grant alive, each run by huey's consumer on the gateway's Redis
(one server and the Cluster; Sentinel too), with its last success recorded for /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from gateway.storage import job_runs, keys
from gateway.storage.redis_client import connect
from gateway.worker import GatewayConsumer, Worker
from tests.gateway.services.test_retention import calendar_grant
from tests.gateway.storage import test_redis_client

pytestmark = pytest.mark.redis_deployments
DAY = 86400.0
sentinel_url = test_redis_client.sentinel_url  # its fixture: a real master and Sentinel


def midday() -> float:
    """A clock in the middle of today (UTC): both jobs are due, whatever the hour now."""
    now = time.time()
    return now // DAY * DAY + DAY / 2 + 1800 + now % 1  # 12:30


@pytest.fixture
def run_worker(app: Flask) -> Iterator[Callable[[], GatewayConsumer]]:
    running: list[GatewayConsumer] = []

    def start() -> GatewayConsumer:
        consumer = Worker(app, tick_seconds=0.2, clock=midday).consumer(signals=False)
        consumer.start()
        running.append(consumer)
        return consumer

    yield start
    for consumer in running:
        consumer.stop(graceful=True)


def wait_for(condition: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def age(client: redis.Redis, uid: str, gid: str, *, days: float, used: bool) -> None:
    then = str(time.time() - days * DAY)
    fields = {"created": then, "last_refreshed": then}
    if used:
        fields["last_used"] = then
    client.hset(keys.grant(uid, gid), mapping=fields)


def test_the_worker_sweeps_an_idle_grant_away(
    redis_deployment: str,
    app: Flask,
    sign_in: Any,
    client: FlaskClient,
    redis_client: redis.Redis,
    run_worker: Callable[[], GatewayConsumer],
) -> None:
    uid, gid = calendar_grant(app, sign_in, client)
    age(redis_client, uid, gid, days=200, used=True)  # the catalogue's idle limit is 180 days
    before = time.time()

    run_worker()
    wait_for(lambda: job_runs.last_success(redis_client, "retention"))

    grant = app.extensions["gateway"].grants.get(uid, gid)
    assert grant is not None and grant.status == "revoked"
    assert "Unused for a long time" in grant.reason
    assert (job_runs.last_success(redis_client, "retention") or 0) >= before


def test_the_worker_refreshes_a_grant_idle_for_a_week_once(
    redis_deployment: str,
    app: Flask,
    sign_in: Any,
    client: FlaskClient,
    redis_client: redis.Redis,
    emulator: Any,
    run_worker: Callable[[], GatewayConsumer],
) -> None:
    uid, gid = calendar_grant(app, sign_in, client)
    age(redis_client, uid, gid, days=8, used=False)
    grants = app.extensions["gateway"].grants
    refreshed_before = grants.get(uid, gid).last_refreshed
    calls = emulator.client.calls().get("google.token", 0)

    run_worker(), run_worker()  # two workers: still one refresh
    wait_for(lambda: job_runs.last_success(redis_client, "refresh-idle-grants"))
    time.sleep(1.5)  # several more ticks of both workers: the hour's run is done

    assert emulator.client.calls().get("google.token", 0) == calls + 1
    after = grants.get(uid, gid)
    assert after.status == "active" and after.last_refreshed > refreshed_before


def test_the_worker_runs_its_jobs_on_a_sentinel_deployment(
    sentinel_url: str, make_env: Any, build_gateway: Any
) -> None:
    app = build_gateway(make_env(GATEWAY_REDIS_URL=sentinel_url))
    consumer = Worker(app, tick_seconds=0.2, clock=midday).consumer(signals=False)
    master = connect(sentinel_url)
    consumer.start()
    try:
        wait_for(lambda: all(job_runs.last_success(master, job) for job in job_runs.JOBS))
    finally:
        consumer.stop(graceful=True)
    assert master.info("replication")["role"] == "master"
    master.close()

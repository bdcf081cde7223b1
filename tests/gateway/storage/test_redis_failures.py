"""Redis dead or hung: a quick 503 (never a bypass), and recovery without a restart."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.storage import keys
from gateway.storage.embedded import EmbeddedRedis
from gateway.storage.redis_client import connect

LIMIT_SECONDS = 2.0


@pytest.fixture
def app(build_gateway: Any, make_env: Any, own_redis: EmbeddedRedis) -> Flask:
    return build_gateway(make_env(GATEWAY_REDIS_URL=own_redis.url))


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def assert_refused_quickly(client: FlaskClient) -> None:
    for path, json_wanted in (("/v1/me", True), ("/account", False), ("/readyz", True)):
        headers = {} if json_wanted else {"Accept": "text/html"}
        answer, took = timed(lambda p=path, h=headers: client.get(p, headers=h))
        assert answer.status_code == 503, (path, answer.status_code)
        assert took < LIMIT_SECONDS, (path, took)
        body = answer.get_data(as_text=True)
        assert "Traceback" not in body
        if json_wanted:
            assert answer.get_json()["error"] == "storage_unavailable"
        else:
            assert "Storage is not answering" in body
            assert 'id="user-email"' not in body  # no account shown: not a bypass
    assert client.get("/healthz").status_code == 200  # the process itself is up


def test_a_killed_redis_gives_503s_then_everything_older_than_a_second_survives(
    sign_in: Any, client: FlaskClient, own_redis: EmbeddedRedis, app: Flask
) -> None:
    sign_in.complete("google", "alice@example.com")
    uid = client.get("/v1/me").get_json()["id"]
    direct = connect(own_redis.url)
    direct.set(f"{keys.user_tag(uid)}:revoked-before-kill", "x")
    direct.delete(f"{keys.user_tag(uid)}:revoked-before-kill")  # a deletion must stick too
    time.sleep(1.5)  # appendfsync everysec
    assert own_redis._process is not None
    os.kill(own_redis._process.pid, signal.SIGKILL)
    own_redis._process.wait()

    assert_refused_quickly(client)

    own_redis._process = None
    own_redis.start()
    assert client.get("/readyz").status_code == 200  # recovered without a restart
    assert client.get("/v1/me").get_json()["id"] == uid  # the session survived
    assert not direct.exists(f"{keys.user_tag(uid)}:revoked-before-kill")
    direct.close()


def test_a_hung_redis_gives_503s_within_two_seconds(
    sign_in: Any, client: FlaskClient, own_redis: EmbeddedRedis
) -> None:
    sign_in.complete("google", "alice@example.com")
    assert own_redis._process is not None
    os.kill(own_redis._process.pid, signal.SIGSTOP)
    try:
        assert_refused_quickly(client)
    finally:
        os.kill(own_redis._process.pid, signal.SIGCONT)
    assert client.get("/v1/me").status_code == 200

"""Sessions live in Redis as JSON, expire when idle and at an absolute age, and die on rotation."""

from __future__ import annotations

import json
import pickle
import time
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient

from gateway.storage import keys
from gateway.storage.sessions import end_user_sessions


def signed_in(sign_in: Any, client: FlaskClient) -> str:
    sign_in.complete("google", "alice@example.com")
    cookie = client.get_cookie("gw_session", domain="127.0.0.1")
    assert cookie is not None
    return cookie.value


def test_session_is_stored_as_json_with_an_idle_ttl(
    sign_in: Any, client: FlaskClient, redis_client: redis.Redis, app: Flask
) -> None:
    sid = signed_in(sign_in, client)
    key = keys.session(sid)
    record = json.loads(redis_client.get(key))
    assert record["data"]["uid"]
    idle = app.extensions["gateway"].settings.session_idle_seconds
    assert 0 < redis_client.ttl(key) <= idle
    assert sid not in key  # the key name is a hash of the id


def test_a_pickled_session_is_never_loaded(client: FlaskClient, redis_client: redis.Redis) -> None:
    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (exec, ("raise SystemExit('unpickled!')",))

    redis_client.set(keys.session("planted"), pickle.dumps(Boom()))
    client.set_cookie("gw_session", "planted", domain="127.0.0.1")
    assert client.get("/v1/me").status_code == 401


def test_a_session_older_than_the_absolute_limit_is_dropped(
    sign_in: Any, client: FlaskClient, redis_client: redis.Redis, app: Flask
) -> None:
    sid = signed_in(sign_in, client)
    key = keys.session(sid)
    record = json.loads(redis_client.get(key))
    limit = app.extensions["gateway"].settings.session_absolute_seconds
    record["created"] = time.time() - limit - 1
    redis_client.set(key, json.dumps(record), keepttl=True)
    assert client.get("/v1/me").status_code == 401
    assert not redis_client.exists(key)


def test_the_id_planted_before_sign_in_is_dead_after_it(
    sign_in: Any, client: FlaskClient, redis_client: redis.Redis
) -> None:
    """A start makes no session; the id a browser held before signing in (again) dies."""
    sign_in.start("google")
    assert client.get_cookie("gw_session", domain="127.0.0.1") is None
    assert sign_in.complete("google", "alice@example.com").status_code == 303
    planted = client.get_cookie("gw_session", domain="127.0.0.1").value
    assert redis_client.exists(keys.session(planted))
    sign_in.emulator.client.authorize_next("alice@example.com")
    url = sign_in.start("google")
    sign_in.back_to_gateway(*sign_in.at_provider(url))
    assert client.get_cookie("gw_session", domain="127.0.0.1").value != planted
    assert not redis_client.exists(keys.session(planted))


def test_sign_out_everywhere_ends_every_session_of_the_user(
    sign_in: Any, client: FlaskClient, redis_client: redis.Redis, another_browser: Any
) -> None:
    signed_in(sign_in, client)
    other = another_browser()
    other.complete("google", "alice@example.com")
    uid = client.get("/v1/me").get_json()["id"]
    assert end_user_sessions(redis_client, uid) == 2
    assert client.get("/v1/me").status_code == 401
    assert other.client.get("/v1/me").status_code == 401

"""DESIGN "Nothing read from Redis is ever unpickled" / SECURITY §4.3 (Flask-Session's pickle
fallback), ASVS 5.0 1.5.2 (safe deserialisation), 13.2.2: pickles planted in every Redis
value the gateway reads — sessions, spent sign-in states (by query and by form_post), free/busy
cache entries, room documents and pointers, grant and consent records — never execute.

Each pickle's `__reduce__` would create a marker file; the marker must never exist. Both
an ASCII pickle (protocol 0, which decodes as text and reaches the JSON parsers) and a
binary one (protocol 5, which fails UTF-8 decoding first) are planted. A planted value may
make a request fail (4xx, or the room `unknown`) but never a 500.
storage/test_sessions.py covers a binary pickle in a session; this covers the rest."""

from __future__ import annotations

import pathlib
import pickle
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis as RedisClient

from gateway.storage import keys
from tests.gateway.services.test_grants import grant_for
from tests.security.support import (
    DAY,
    GOOGLE_ACCOUNT,
    MICROSOFT_ACCOUNT,
    api_client,
    bearer,
    make_room,
    signed_in_uid,
)


class Touch:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def writer(redis_server: Any, redis_client: redis.Redis) -> Any:
    """A connection that writes bytes as they are (the app's client decodes to str)."""
    raw = redis.Redis.from_url(redis_server.url, decode_responses=False)
    yield raw
    raw.close()


@dataclass
class World:
    app: Flask
    sign_in: Any
    client: FlaskClient
    redis: RedisClient
    writer: RedisClient


def bound_room(w: World) -> tuple[str, str]:
    w.sign_in.complete("google", GOOGLE_ACCOUNT)
    uid = signed_in_uid(w.client)
    gid = grant_for(w.app, w.sign_in, uid)
    make_room(w.app, "blue", ["frontend"], host=uid)
    w.app.extensions["gateway"].rooms.bind(uid, "blue", gid)
    return uid, api_client(w.app, "fe", {"frontend"})


def api_answers(w: World, secret: str) -> list[Any]:
    api = w.app.test_client()
    return [
        api.get("/v1/rooms", headers=bearer(secret)),
        api.post("/v1/freebusy", json={"rooms": ["blue"], **DAY}, headers=bearer(secret)),
        api.get(
            "/v1/rooms/blue/slots",
            query_string={"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "30"},
            headers=bearer(secret),
        ),
        w.client.get("/account"),
        w.client.get("/v1/me/export"),
    ]


def session(w: World, payload: bytes) -> list[Any]:
    w.writer.set(keys.session("planted-sid"), payload)
    w.client.set_cookie("gw_session", "planted-sid", domain="127.0.0.1")
    return [w.client.get(path) for path in ("/v1/me", "/account", "/")]


def flow(w: World, payload: bytes, provider: str = "google", account: str = GOOGLE_ACCOUNT):
    """The pending flow's one Redis key (its spent-state claim), planted before the
    callback, by query or after Microsoft's form_post: never read, and it signs nobody in."""
    authorize_url = w.sign_in.start(provider)
    w.sign_in.emulator.client.authorize_next(account)
    path, params = w.sign_in.at_provider(authorize_url)
    state = params["state"]
    if path.startswith("POST "):
        parked = w.client.post(path.removeprefix("POST "), data=params)
        assert parked.status_code == 303
        w.writer.set(keys.flow_spent(state), payload)
        answer = w.client.get(parked.headers["Location"])
    else:
        w.writer.set(keys.flow_spent(state), payload)
        answer = w.client.get(path, query_string=params)
    assert answer.status_code != 303, "a planted flow must not sign anyone in"
    return [answer, w.client.get("/v1/me")]


def parked(w: World, payload: bytes) -> list[Any]:
    return flow(w, payload, "microsoft", MICROSOFT_ACCOUNT)


def cache(w: World, payload: bytes) -> list[Any]:
    """Every cached free/busy entry replaced after a first, successful answer."""
    uid, secret = bound_room(w)
    first = w.app.test_client().post(
        "/v1/freebusy", json={"rooms": ["blue"], **DAY}, headers=bearer(secret)
    )
    assert first.status_code == 200
    cached = list(w.redis.scan_iter(f"{keys.user_tag(uid)}:fb:*"))
    assert cached, "the first answer should have been cached"
    for key in cached:
        w.writer.set(key, payload, keepttl=True)
    return api_answers(w, secret)


def room(w: World, payload: bytes) -> list[Any]:
    _, secret = bound_room(w)
    w.writer.set("gw:room:blue", payload)
    return api_answers(w, secret)


def pointer(w: World, payload: bytes) -> list[Any]:
    _, secret = bound_room(w)
    w.writer.set("gw:room:blue:bound", payload)
    return api_answers(w, secret)


def tokens(w: World, payload: bytes) -> list[Any]:
    uid, secret = bound_room(w)
    gid = next(iter(w.redis.smembers(keys.grants(uid))))
    w.writer.hset(keys.grant(uid, str(gid)), "tokens", payload)
    return api_answers(w, secret)


def consent(w: World, payload: bytes) -> list[Any]:
    uid, secret = bound_room(w)
    for field in w.redis.hkeys(keys.consents(uid)) or ["room-availability|google"]:
        w.writer.hset(keys.consents(uid), field, payload)
    return api_answers(w, secret)


def client_record(w: World, payload: bytes) -> list[Any]:
    _, secret = bound_room(w)
    client_key = next(iter(w.redis.scan_iter("gw:{clients}:*")))
    for field in ("audiences", "rooms", "rate_limit"):
        w.writer.hset(client_key, field, payload)
    return api_answers(w, secret)


TARGETS = {
    "session": session,
    "flow": flow,
    "parked-form-post": parked,
    "freebusy-cache": cache,
    "room": room,
    "room-pointer": pointer,
    "grant-tokens": tokens,
    "consent": consent,
    "api-client": client_record,
}
PROTOCOLS = {"ascii-pickle": 0, "binary-pickle": 5}
CASES = [(t, p) for t in TARGETS for p in PROTOCOLS]


def plant(
    tmp_path: pathlib.Path, world: World, target: str, protocol: str
) -> tuple[pathlib.Path, list[Any]]:
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(Touch(marker), protocol=PROTOCOLS[protocol])
    assert b"touch" in payload
    return marker, TARGETS[target](world, payload)


@pytest.fixture
def world(
    app: Flask, sign_in: Any, client: FlaskClient, redis_client: redis.Redis, writer: Any
) -> World:
    return World(app, sign_in, client, redis_client, writer)


@pytest.mark.parametrize(("target", "protocol"), CASES)
def test_a_planted_pickle_never_executes(
    tmp_path: pathlib.Path, world: World, target: str, protocol: str
) -> None:
    """The bar: the marker file is never created, and no answer shows a trace."""
    marker, answers = plant(tmp_path, world, target, protocol)
    assert not marker.exists(), "a pickle planted in Redis was executed"
    for answer in answers:
        assert "Traceback" not in answer.get_data(as_text=True)
        assert "touch" not in answer.get_data(as_text=True)


@pytest.mark.parametrize(("target", "protocol"), CASES)
def test_a_planted_pickle_is_never_a_500(
    tmp_path: pathlib.Path, world: World, target: str, protocol: str
) -> None:
    """T25 "0 HTTP 500; one uniform error path" for foreign bytes in Redis: an unreadable
    record is missing (4xx, or the room `unknown`), never an unhandled exception."""
    marker, answers = plant(tmp_path, world, target, protocol)
    assert not marker.exists()
    for answer in answers:
        assert answer.status_code != 500, (answer.request.path, answer.get_data(as_text=True))

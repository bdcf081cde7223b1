"""Values in Redis that the gateway did not write read as missing, never as an exception.

The client decodes replies as UTF-8, so a binary value (a pickle, say) raises inside
redis-py; a text value that is not the expected JSON fails the parsers. Each loader turns
both into "missing", logs one line without the value, and leaves the connection usable.
tests/security/test_pickle.py plants the same values end to end."""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.storage import keys
from gateway.storage.api_clients import ApiClientStore, client_key
from gateway.storage.consents import GIVEN, ConsentStore
from gateway.storage.flows import FlowStore
from gateway.storage.freebusy_cache import Entry, FreeBusyCache, entry_key
from gateway.storage.grants import GrantStore
from gateway.storage.readable import get_many_text, hgetall_text
from gateway.storage.room_keys import room, room_bound
from gateway.storage.rooms import RoomStore
from tests.security.support import DAY, api_client, bearer, make_room

BINARY = pickle.dumps({"not": "ours"}, protocol=5)  # not UTF-8
ASCII = pickle.dumps({"not": "ours"}, protocol=0)  # text, but not JSON


@pytest.fixture
def raw(redis_server: Any, redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """Writes bytes as they are (the gateway's client decodes to str)."""
    writer = redis.Redis.from_url(redis_server.url, decode_responses=False)
    yield writer
    writer.close()


def test_the_helpers_skip_only_what_is_not_text(
    redis_client: redis.Redis, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    raw.mset({"a": b"one", "b": BINARY, "c": b"three"})
    raw.hset("h", mapping={"x": b"1", "y": BINARY})
    with caplog.at_level(logging.WARNING, "gateway.storage"):
        assert get_many_text(redis_client, ["a", "b", "c", "d"], "thing") == [
            "one",
            None,
            "three",
            None,
        ]
        assert hgetall_text(redis_client, "h", "thing") == {"x": "1"}
        assert hgetall_text(redis_client, "h", "thing", whole=True) == {}
    assert "unreadable thing" in caplog.text and "not" not in caplog.text.replace("not ", "")
    assert redis_client.ping()  # the connection that failed was dropped and replaced


def test_a_spent_state_claim_that_is_not_ours_still_counts_as_spent(
    redis_client: redis.Redis, raw: redis.Redis
) -> None:
    """The claim is never read back: whatever sits under the key, the state is spent."""
    store = FlowStore(redis_client)
    raw.set(keys.flow_spent("s"), BINARY)
    assert not store.claim("s", 60)
    assert store.claim("t", 60) and not store.claim("t", 60)
    assert 0 < redis_client.ttl(keys.flow_spent("t")) <= 60


def test_a_cache_entry_that_is_not_ours_is_a_miss_and_is_dropped(
    redis_client: redis.Redis, raw: redis.Redis
) -> None:
    cache = FreeBusyCache(redis_client)
    good = entry_key("U1", "G1", "blue", "1", "2026-11-25")
    binary = entry_key("U1", "G1", "red", "1", "2026-11-25")
    text = entry_key("U1", "G1", "green", "1", "2026-11-25")
    raw.set(good, json.dumps({"b": [[1, 2]], "t": 5.0}))
    raw.set(binary, BINARY)
    raw.set(text, ASCII)
    assert cache.read([good, binary, text]) == [Entry(busy=((1, 2),), fetched_at=5.0), None, None]
    assert not redis_client.exists(binary)  # refills on the next fetch
    assert cache.read([good, binary]) == [Entry(busy=((1, 2),), fetched_at=5.0), None]


def test_a_room_document_or_pointer_that_is_not_ours_is_missing(
    redis_client: redis.Redis, raw: redis.Redis
) -> None:
    store = RoomStore(redis_client)
    blue, red = '{"id": "blue", "name": "Blue"}', '{"id": "red", "name": "Red"}'
    store.create("blue", blue, None)
    store.create("red", red, None)
    for room_id, gid, sealed in (("blue", "G1", "x"), ("red", "G2", "y")):
        # bindings of the shape written before rooms had several calendars: one calendar's
        # fields at the hash's top level (the fields poked below), a pointer "uid gid version"
        raw.hset(
            f"{keys.user_tag('U1')}:binding:{room_id}",
            mapping={"room": room_id, "grant": gid, "provider": "google", "calendar": sealed},
        )
        raw.hset(f"{keys.user_tag('U1')}:binding:{room_id}", "since", "1.0")
        raw.sadd(f"{keys.user_tag('U1')}:bindings", room_id)
        raw.set(room_bound(room_id), f"U1 {gid} 1")
    raw.set(room("green"), ASCII)
    raw.set(room("grey"), red)  # another room's document
    raw.set(room("pink"), BINARY)
    raw.set(room_bound("red"), BINARY)

    ids = ["blue", "red", "green", "grey", "pink"]
    assert store.load_many(ids) == [blue, red, None, None, None]
    assert [store.load(r) for r in ids] == [blue, red, None, None, None]
    documents, pointers = store.load_with_pointers(ids)
    assert documents == [blue, red, None, None, None]
    assert set(pointers) == {"blue"}
    assert set(store.pointers(ids)) == {"blue"}
    assert store.pointer("red") is None

    raw.hset(f"{keys.user_tag('U1')}:binding:red", "calendar", BINARY)
    raw.hset(f"{keys.user_tag('U1')}:binding:blue", "since", b"yesterday")
    assert [b.room_id for b in store.bindings_of("U1")] == ["red"]
    found = store.load_binding("U1", "red")
    assert found is not None and found.sealed_calendar == ""  # fails to open: unknown
    assert store.unbind("U1", "red") == "G2"


def test_a_consent_that_is_not_ours_is_not_in_force(
    redis_client: redis.Redis, raw: redis.Redis
) -> None:
    store = ConsentStore(redis_client)
    for purpose in ("a", "b", "c"):
        store.record(
            "U1", purpose=purpose, provider="google", action=GIVEN, version="1", digest="d"
        )
    raw.hset(keys.consents("U1"), "b|google", BINARY)
    raw.hset(keys.consents("U1"), "c|google", ASCII)
    raw.hset(keys.consents("U1"), "d|google", b'{"version": "1"}')
    assert [c.purpose for c in store.in_force("U1")] == ["a"]
    assert [e.purpose for e in store.history("U1")] == ["a", "b", "c"]


def test_an_api_client_with_a_field_that_is_not_ours_is_unknown(
    redis_client: redis.Redis, raw: redis.Redis
) -> None:
    store = ApiClientStore(redis_client, "pepper")
    client, secret = store.create("frontend", {"all"}, set(), "100/minute")
    other, other_secret = store.create("other", {"all"}, set(), "100/minute")
    assert store.authenticate(secret) == client
    raw.hset(client_key(client.id), "audiences", BINARY)
    raw.hset(client_key(other.id), "secret_hash", BINARY)
    fresh = ApiClientStore(redis_client, "pepper")  # nothing remembered
    assert fresh.get(client.id) is None
    assert fresh.authenticate(secret) is None
    assert fresh.authenticate(other_secret) is None
    raw.hset(client_key(client.id), mapping={"audiences": b"all", "created": b"soon"})
    assert fresh.get(client.id) is None
    assert [c.id for c in fresh.all()] == []


def test_a_grant_with_a_field_that_is_not_ours_loses_that_field_or_is_broken(
    redis_client: redis.Redis, raw: redis.Redis
) -> None:
    store = GrantStore(redis_client)
    for gid in ("G1", "G2"):
        store.create(
            "U1",
            gid,
            provider="google",
            purpose="p",
            scopes=frozenset({"s"}),
            expires_at=0.0,
            wrapped_key="v1:k",
            sealed_tokens="t",
            sealed_subject="s",
        )
    raw.hset(keys.grant("U1", "G1"), "tokens", BINARY)
    raw.hset(keys.grant("U1", "G2"), "version", b"two")
    one = store.load("U1", "G1")
    assert one is not None and one.sealed_tokens is None and one.status == "active"
    two = store.load("U1", "G2")
    assert two is not None and two.status == "broken" and not two.usable
    assert sorted((g.id, g.sealed_tokens) for g in store.list("U1")) == [("G1", None), ("G2", "t")]


def test_a_room_document_that_no_longer_validates_reads_as_missing_and_can_be_deleted(
    app: Flask, redis_client: redis.Redis
) -> None:
    """Valid JSON with the right id but fields of another schema: a 404 like any unknown
    room, absent from the room list, and an operator can still delete it."""
    make_room(app, "atlas", ["frontend"])
    make_room(app, "borealis", ["frontend"])
    redis_client.set("gw:room:borealis", '{"id": "borealis", "hours": "always"}')
    secret = api_client(app, "fe", {"frontend"})
    client = app.test_client()

    listed = client.get("/v1/rooms", headers=bearer(secret))
    asked = client.post("/v1/freebusy", json={"rooms": ["borealis"], **DAY}, headers=bearer(secret))

    assert listed.status_code == 200
    assert [r["id"] for r in listed.get_json()["rooms"]] == ["atlas"]
    assert asked.status_code == 404
    assert asked.get_json()["error"] == "room_not_found"
    app.extensions["gateway"].rooms.delete("borealis", actor="operator")
    assert not redis_client.exists("gw:room:borealis")

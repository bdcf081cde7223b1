"""A grant fetch's lock, its cached entries and the grant's epoch in one round trip
(FreeBusyCache.lock_and_read, issue 17's cold fan-out): what the three calls it replaces
returned, and the lock still its holder's when an entry is not ours."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from gateway.storage import keys
from gateway.storage.freebusy_cache import Entry, FreeBusyCache, entry_key, fetch_lock

BINARY = pickle.dumps({"not": "ours"}, protocol=5)  # not UTF-8


@pytest.fixture
def raw(redis_server: Any, redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """Writes bytes as they are (the gateway's client decodes to str)."""
    writer = redis.Redis.from_url(redis_server.url, decode_responses=False)
    yield writer
    writer.close()


def test_the_holder_gets_the_entries_and_the_epoch_and_no_one_else_gets_the_lock(
    redis_client: redis.Redis,
) -> None:
    cache = FreeBusyCache(redis_client)
    blue = entry_key("U1", "G1", "blue", "1", "2026-11-25")
    red = entry_key("U1", "G1", "red", "1", "2026-11-25")
    redis_client.set(blue, json.dumps({"b": [[1, 2]], "t": 5.0}))
    redis_client.hset(keys.grant("U1", "G1"), "epoch", "e7")

    holder, entries, epoch = cache.lock_and_read("U1", "G1", 10_000, [blue, red])
    other, nothing, no_epoch = cache.lock_and_read("U1", "G1", 10_000, [blue, red])

    assert holder is not None and redis_client.get(fetch_lock("U1", "G1")) == holder
    assert entries == [Entry(busy=((1, 2),), fetched_at=5.0), None]
    assert epoch == "e7"
    assert (other, nothing, no_epoch) == (None, [], None)
    cache.unlock("U1", "G1", holder)
    assert cache.lock_and_read("U1", "G1", 10_000, [blue])[0] not in (None, holder)


def test_a_grant_without_an_epoch_reads_none(redis_client: redis.Redis) -> None:
    cache = FreeBusyCache(redis_client)

    holder, entries, epoch = cache.lock_and_read("U1", "G2", 10_000, [])

    assert holder is not None
    assert (entries, epoch) == ([], None)


def test_an_entry_that_is_not_ours_is_a_miss_and_the_lock_is_still_the_holders(
    redis_client: redis.Redis, raw: redis.Redis
) -> None:
    cache = FreeBusyCache(redis_client)
    good = entry_key("U1", "G1", "blue", "1", "2026-11-25")
    binary = entry_key("U1", "G1", "red", "1", "2026-11-25")
    raw.set(good, json.dumps({"b": [[1, 2]], "t": 5.0}))
    raw.set(binary, BINARY)
    redis_client.hset(keys.grant("U1", "G1"), "epoch", "e1")

    holder, entries, epoch = cache.lock_and_read("U1", "G1", 10_000, [good, binary])

    assert holder is not None and redis_client.get(fetch_lock("U1", "G1")) == holder
    assert entries == [Entry(busy=((1, 2),), fetched_at=5.0), None]
    assert epoch == "e1"
    assert not redis_client.exists(binary)  # refills on the fetch
    cache.unlock("U1", "G1", holder)
    assert not redis_client.exists(fetch_lock("U1", "G1"))

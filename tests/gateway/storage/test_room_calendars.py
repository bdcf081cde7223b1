"""Several calendars behind one room in Redis: the binding hash, the pointer free/busy
follows, their order of writes, the limit, and what is not ours reading as missing."""

from __future__ import annotations

import redis

from gateway.storage import keys
from gateway.storage.room_calendars import MAX_CALENDARS
from gateway.storage.room_keys import binding, room_bound
from gateway.storage.rooms import RoomStore

BINARY = b"\x80\x81\xfe\xff"


def test_calendars_are_added_up_to_the_limit_and_the_pointer_names_each(
    redis_client: redis.Redis,
) -> None:
    store = RoomStore(redis_client)
    first = store.bind("U1", "blue", gid="G1", provider="google", sealed_calendar="a")
    added = [
        store.add_calendar("U1", "blue", gid=f"G{n}", provider="google", sealed_calendar=f"s{n}")
        for n in range(2, MAX_CALENDARS + 1)
    ]
    assert None not in added
    refused = store.add_calendar("U1", "blue", gid="G9", provider="google", sealed_calendar="z")
    assert refused is None
    found = store.load_bindings("U1", "blue")
    assert [b.gid for b in found] == [f"G{n}" for n in range(1, MAX_CALENDARS + 1)]
    assert [b.version for b in found] == [first, *added]
    pairs = store.pointer_sets(["blue"])["blue"]
    assert [(uid, gid, v) for uid, gid, v in pairs] == [("U1", b.gid, b.version) for b in found]
    assert store.pointers(["blue"])["blue"] == ("U1", "G1", first)  # the first, as before


def test_removing_calendars_leaves_the_others_and_the_last_unbinds(
    redis_client: redis.Redis,
) -> None:
    store = RoomStore(redis_client)
    one = store.bind("U1", "blue", gid="G1", provider="google", sealed_calendar="a")
    two = store.add_calendar("U1", "blue", gid="G2", provider="caldav", sealed_calendar="b")
    assert two is not None
    removed = store.remove_calendars("U1", "blue", [one])
    assert [b.gid for b in removed] == ["G1"]
    assert [p[1] for p in store.pointer_sets(["blue"])["blue"]] == ["G2"]
    assert store.remove_calendars("U1", "blue", [one]) == []  # gone already: nothing
    assert store.unbind("U1", "blue") == "G2"
    assert redis_client.get(room_bound("blue")) is None
    assert not redis_client.exists(binding("U1", "blue"))
    assert redis_client.smembers(keys.user_index("U1")) == set()


def test_a_rebind_replaces_one_calendar_under_a_new_version(redis_client: redis.Redis) -> None:
    store = RoomStore(redis_client)
    one = store.bind("U1", "blue", gid="G1", provider="google", sealed_calendar="a")
    two = store.add_calendar("U1", "blue", gid="G2", provider="google", sealed_calendar="b")
    three = store.replace_calendar(
        "U1", "blue", one, gid="G3", provider="google", sealed_calendar="c"
    )
    assert three is not None and three not in (one, two)
    assert [(b.gid, b.version) for b in store.load_bindings("U1", "blue")] == [
        ("G2", two),
        ("G3", three),  # oldest first: the replacement is the newest
    ]
    assert [p[2] for p in store.pointer_sets(["blue"])["blue"]] == [two, three]
    assert (
        store.replace_calendar("U1", "blue", one, gid="G4", provider="g", sealed_calendar="d")
        is None
    )


def test_an_older_pointer_write_never_overwrites_a_newer_one(redis_client: redis.Redis) -> None:
    store = RoomStore(redis_client)
    store.bind("U1", "blue", gid="G1", provider="google", sealed_calendar="a")
    store.add_calendar("U1", "blue", gid="G2", provider="google", sealed_calendar="b")
    newest = redis_client.get(room_bound("blue"))
    assert str(newest).endswith(" ~2")
    store._write_pointer(keys=[room_bound("blue")], args=["1", "U1 G1 1 ~1", "U1"])
    assert redis_client.get(room_bound("blue")) == newest


def test_a_calendar_entry_that_is_not_ours_reads_as_missing(redis_client: redis.Redis) -> None:
    store = RoomStore(redis_client)
    store.bind("U1", "blue", gid="G1", provider="google", sealed_calendar="a")
    store.add_calendar("U1", "blue", gid="G2", provider="google", sealed_calendar="b")
    redis_client.hset(binding("U1", "blue"), "cal:1", "not json")
    redis_client.hset(binding("U1", "blue"), "cal:2", '{"grant": 7}')
    redis_client.hset(binding("U1", "blue"), "cal:3", '{"grant": "G3", "since": "yesterday"}')
    assert [b.gid for b in store.load_bindings("U1", "blue")] == ["G1", "G2"]
    redis_client.hset(binding("U1", "blue"), "cal:4", BINARY)
    assert [b.gid for b in store.load_bindings("U1", "blue")] == ["G1", "G2"]

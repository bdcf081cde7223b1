"""Room keys in Redis: where rooms and bindings live, and that a binding's pointer follows it."""

from __future__ import annotations

import redis

from gateway.storage import keys, room_keys
from gateway.storage.room_history import HISTORY_SECONDS
from gateway.storage.rooms import RoomStore


def test_room_keys_follow_the_schema() -> None:
    assert room_keys.room("blue") == "gw:room:blue"
    assert room_keys.ROOMS == "gw:rooms"
    assert room_keys.room_bound("blue") == "gw:room:blue:bound"
    assert room_keys.room_history("blue") == "gw:room:blue:history"
    # Everything of one user sits under their hash tag.
    for key in (
        room_keys.hosted("U1"),
        room_keys.bindings("U1"),
        room_keys.binding("U1", "blue"),
    ):
        assert key.startswith(keys.user_tag("U1") + ":")
        assert keys.owner_of_key(key) == "U1"


def test_create_refuses_a_taken_id_and_indexes_the_host(redis_client: redis.Redis) -> None:
    store = RoomStore(redis_client)
    assert store.create("blue", '{"id": "blue"}', "U1")
    assert not store.create("blue", '{"id": "other"}', "U2")
    assert store.load("blue") == '{"id": "blue"}'
    assert store.ids() == ["blue"]
    assert store.hosted_by("U1") == ["blue"]
    assert store.hosted_by("U2") == []


def test_save_moves_the_room_between_hosts_and_delete_forgets_it(
    redis_client: redis.Redis,
) -> None:
    store = RoomStore(redis_client)
    store.create("blue", '{"id": "blue"}', "U1")
    store.save("blue", '{"id": "blue", "v": 2}', "U1", "U2")
    assert store.hosted_by("U1") == [] and store.hosted_by("U2") == ["blue"]
    assert store.load("blue") == '{"id": "blue", "v": 2}'
    store.delete("blue", "U2")
    assert store.load("blue") is None and store.ids() == [] and store.hosted_by("U2") == []


def test_a_binding_lives_under_its_host_and_its_pointer_is_in_the_hosts_index(
    redis_client: redis.Redis,
) -> None:
    store = RoomStore(redis_client)
    store.bind("U1", "blue", gid="G1", provider="google", sealed_calendar="sealed")

    assert store.pointer("blue") == ("U1", "G1")
    assert room_keys.room_bound("blue") in redis_client.smembers(keys.user_index("U1"))
    found = store.load_binding("U1", "blue")
    assert found is not None
    assert (found.room_id, found.gid, found.provider, found.sealed_calendar) == (
        "blue",
        "G1",
        "google",
        "sealed",
    )
    assert [b.room_id for b in store.bindings_of("U1")] == ["blue"]

    assert store.unbind("U1", "blue") == "G1"
    assert store.pointer("blue") is None
    assert store.load_binding("U1", "blue") is None
    assert redis_client.smembers(keys.user_index("U1")) == set()
    assert store.unbind("U1", "blue") is None


def test_unbinding_leaves_a_pointer_that_names_someone_else(redis_client: redis.Redis) -> None:
    store = RoomStore(redis_client)
    store.bind("U1", "blue", gid="G1", provider="google", sealed_calendar="x")
    store.bind("U2", "blue", gid="G2", provider="google", sealed_calendar="y")  # new host
    store.unbind("U1", "blue")
    assert store.pointer("blue") == ("U2", "G2")


def test_history_is_appended_with_opaque_ids_and_expires(redis_client: redis.Redis) -> None:
    store = RoomStore(redis_client)
    store.record("blue", actor="U1", action="bind", gid="G1")
    store.record("blue", actor="admin", action="unbind", gid="G1")
    entries = store.history("blue")
    assert [(e.actor, e.action, e.grant) for e in entries] == [
        ("U1", "bind", "G1"),
        ("admin", "unbind", "G1"),
    ]
    assert entries[0].at <= entries[1].at
    ttl = redis_client.ttl(room_keys.room_history("blue"))
    assert HISTORY_SECONDS - 10 < ttl <= HISTORY_SECONDS

"""Who asked for a host's rooms: counted per request in memory, written per room and day."""

from __future__ import annotations

import time

import redis

from gateway.storage import keys
from gateway.storage.access_log import AccessLog, access_key
from gateway.storage.erasure import ErasureStore


def signed_up(client: redis.Redis, *uids: str) -> None:
    for uid in uids:
        client.hset(keys.profile(uid), "created", str(time.time()))


def test_requests_are_counted_per_room_asker_and_day_and_erasure_drops_unwritten_ones(
    redis_client: redis.Redis,
) -> None:
    signed_up(redis_client, "alice", "bob")
    log = AccessLog(redis_client, flush_seconds=3600)
    warm = (("atlas", "alice"), ("borealis", "bob"))
    for _ in range(3):
        log.record("client:frontend", warm)  # one remembered answer, served three times
    log.record("member", [("atlas", "alice")])
    log.forget("bob")  # bob erased before the counts were written

    alice = {(a.room, a.asker, a.count) for a in log.of("alice")}
    day = time.strftime("%Y-%m-%d", time.gmtime())

    assert alice == {("atlas", "client:frontend", 3), ("atlas", "member", 1)}
    assert {a.day for a in log.of("alice")} == {day}
    assert log.of("bob") == []


def test_counts_another_worker_holds_for_a_host_erased_meanwhile_are_not_written(
    redis_client: redis.Redis,
) -> None:
    signed_up(redis_client, "alice", "carol")
    elsewhere = AccessLog(redis_client, flush_seconds=3600)  # another worker's counts
    elsewhere.record("client:frontend", (("atlas", "alice"), ("cygnus", "carol")))
    ErasureStore(redis_client).delete_all_of("carol")  # this worker never heard of it

    elsewhere.flush()

    assert redis_client.exists(access_key("carol")) == 0
    assert not list(redis_client.scan_iter(match=f"{keys.user_tag('carol')}:*"))
    assert [(a.room, a.count) for a in elsewhere.of("alice")] == [("atlas", 1)]


def test_a_due_flush_is_written_by_a_thread_of_its_own_and_a_read_waits_for_it(
    redis_client: redis.Redis,
) -> None:
    signed_up(redis_client, "alice")
    log = AccessLog(redis_client, flush_seconds=0)
    for _ in range(20):
        log.record("member", (("atlas", "alice"),))  # each finds a flush due

    assert [(a.room, a.asker, a.count) for a in log.of("alice")] == [("atlas", "member", 20)]

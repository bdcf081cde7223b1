"""Who asked for a host's rooms: counted per request in memory, written per room and day."""

from __future__ import annotations

import time

import redis

from gateway.storage.access_log import AccessLog


def test_requests_are_counted_per_room_asker_and_day_and_erasure_drops_unwritten_ones(
    redis_client: redis.Redis,
) -> None:
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

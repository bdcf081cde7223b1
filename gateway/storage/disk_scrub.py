"""The disk-scrub record in Redis, and the commands that rewrite and inspect the AOF.

Deleting a key removes it from memory, not from the append-only file: the DEL is appended
and the old value stays on disk until Redis rewrites the AOF (Redis 7 writes a new base
file and deletes the old base and incr files). Every erasure and revocation therefore
records a request here; a background thread in every gateway process
(services/disk_scrub.py) rewrites and then marks the requests made before the rewrite
started as done. The record lives in Redis, so any process completes it when the one that
acknowledged the request has died.

    gw:{scrub}        hash    requested  requests made so far (a counter)
                              done       requests covered by a finished rewrite
                              first      when the oldest request not yet covered was made
                              started    when the last rewrite started
                              finished   when the last rewrite finished
    gw:{scrub}:lock   string  the process running a rewrite (expires)

None of it is personal data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis
from redis.cluster import RedisCluster

from gateway.storage.keys import PREFIX

KEY = f"{PREFIX}:{{scrub}}"
LOCK = f"{KEY}:lock"
POLL_SECONDS = 0.1

# KEYS: record. ARGV: now. Returns the request's number. (HGET + HSET, not HSETNX: the
# gateway's ACL user has only the commands the gateway needs, deploy/REDIS.md.)
_REQUEST = """
local n = redis.call('HINCRBY', KEYS[1], 'requested', 1)
if not redis.call('HGET', KEYS[1], 'first') then redis.call('HSET', KEYS[1], 'first', ARGV[1]) end
return n
"""
# KEYS: record. ARGV: requests covered, when the rewrite started, when it finished.
_COMPLETE = """
local done = tonumber(redis.call('HGET', KEYS[1], 'done') or '0')
if tonumber(ARGV[1]) > done then redis.call('HSET', KEYS[1], 'done', ARGV[1]) end
redis.call('HSET', KEYS[1], 'finished', ARGV[3])
local requested = tonumber(redis.call('HGET', KEYS[1], 'requested') or '0')
if requested <= tonumber(ARGV[1]) then
  redis.call('HDEL', KEYS[1], 'first')
else
  redis.call('HSET', KEYS[1], 'first', ARGV[2])
end
return requested
"""
# KEYS: lock. ARGV: holder, lease in ms. Only the holder renews or releases.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RewriteFailed(RuntimeError):
    """Redis reported the AOF rewrite as failed, or it did not end in time."""


@dataclass(frozen=True)
class ScrubState:
    requested: int
    done: int
    first: float | None  # the oldest request not yet covered
    started: float | None
    finished: float | None

    @property
    def pending(self) -> bool:
        return self.requested > self.done


class ScrubStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._request = client.register_script(_REQUEST)
        self._complete = client.register_script(_COMPLETE)
        self._renew = client.register_script(_RENEW)
        self._unlock = client.register_script(_UNLOCK)

    def request(self, now: float) -> int:
        return int(self._request(keys=[KEY], args=[repr(now)]))

    def state(self) -> ScrubState:
        requested, done, first, started, finished = self.client.hmget(
            KEY, ["requested", "done", "first", "started", "finished"]
        )
        return ScrubState(
            requested=int(requested or 0),
            done=int(done or 0),
            first=_float(first),
            started=_float(started),
            finished=_float(finished),
        )

    def lock(self, holder: str, lease_seconds: float) -> bool:
        return bool(self.client.set(LOCK, holder, nx=True, px=int(lease_seconds * 1000)))

    def renew(self, holder: str, lease_seconds: float) -> bool:
        return bool(self._renew(keys=[LOCK], args=[holder, int(lease_seconds * 1000)]))

    def unlock(self, holder: str) -> None:
        self._unlock(keys=[LOCK], args=[holder])

    def mark_started(self, now: float) -> None:
        self.client.hset(KEY, "started", repr(now))

    def complete(self, covered: int, started: float, finished: float) -> int:
        """Requests up to `covered` are off disk; returns how many were made in all."""
        return int(self._complete(keys=[KEY], args=[covered, repr(started), repr(finished)]))

    def rewrite_and_wait(self, timeout: float, keep_alive: Any = None) -> None:
        """Rewrite every primary's AOF (see `rewrite_and_wait` below)."""
        rewrite_and_wait(self.client, timeout, keep_alive)

    def persistence_risks(self) -> list[str] | None:
        return persistence_risks(self.client)


def primaries(client: redis.Redis) -> list[redis.Redis]:
    """The one server behind `client`, or a client for every primary of a cluster."""
    if isinstance(client, RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def rewrite_and_wait(client: redis.Redis, timeout: float, keep_alive: Any = None) -> None:
    """BGREWRITEAOF on every primary, started after this call began, and wait until each
    has finished (INFO persistence), raising RewriteFailed if one failed or outlasted
    `timeout`. `keep_alive()` is called while waiting (the caller renews its lock)."""
    deadline = time.monotonic() + timeout
    servers = primaries(client)
    for server in servers:
        while True:
            try:
                server.bgrewriteaof()  # started now, or scheduled after a running BGSAVE
                break
            except redis.ResponseError as error:
                if "already in progress" not in str(error):
                    raise
            # one that started before our request may miss its deletes: wait, start ours
            _wait_idle(server, deadline, keep_alive)
    for server in servers:
        _wait_idle(server, deadline, keep_alive)
        info = server.info("persistence")
        if info.get("aof_last_bgrewrite_status") != "ok":
            raise RewriteFailed("the AOF rewrite failed (aof_last_bgrewrite_status)")


def _wait_idle(server: redis.Redis, deadline: float, keep_alive: Any) -> None:
    while True:
        info = server.info("persistence")
        if not int(info.get("aof_rewrite_in_progress", 0)) and not int(
            info.get("aof_rewrite_scheduled", 0)
        ):
            return
        if time.monotonic() > deadline:
            raise RewriteFailed("the AOF rewrite did not finish in time")
        if keep_alive is not None:
            keep_alive()
        time.sleep(POLL_SECONDS)


def persistence_risks(client: redis.Redis) -> list[str] | None:
    """What in Redis's persistence settings can bring revoked data back, per primary; None
    when CONFIG GET is refused (a managed Redis, or the ACL of deploy/REDIS.md)."""
    risks: list[str] = []
    for server in primaries(client):
        try:
            appendonly = server.config_get("appendonly").get("appendonly")
            save = server.config_get("save").get("save")
        except redis.ResponseError:  # NOPERM, or CONFIG renamed away
            return None
        if appendonly != "yes":
            risks.append("appendonly is off (nothing rewrites the deleted data out of the RDB)")
        if save:
            risks.append(f"RDB snapshots are on (save {save!r})")
    return sorted(set(risks))


def _float(value: Any) -> float | None:
    return float(value) if value else None

"""Cached busy times per (grant, room binding, UTC day), written only if the grant's epoch
is still the one the fetch started under.

    gw:{u:UID}:fb:GID:ROOM:VERSION:DAY   string JSON {"b": [[start, end], ...] epoch seconds,
                                         "t": fetched at, "f": fresh until (only for a
                                         watched calendar's day: its longer TTL, never past
                                         its channel's end)}; TTL = the stale bound; listed in
                                         gw:{u:UID}:grant:GID:cached (purged with the grant)
    gw:{u:UID}:grant:GID:fetch           string single-flight lock of the grant's fetches

A revocation deletes the grant's data key and every listed key in one transaction, then
bumps its epoch; the
Lua write below compares the epoch first, so a fetch that was in flight during a revocation
writes nothing (all keys share the user's hash tag, so this is one slot on a Cluster).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from gateway.storage import answers, keys
from gateway.storage.readable import unreadable
from gateway.storage.redis_client import get_many

# KEYS: grant hash, cached index, entry keys... ARGV: epoch, ttl, values...
# Parsed entries kept per process, by their stored text: no key or user id is kept, and an
# entry is only ever reused when Redis itself returned that exact text again.
PARSED_KEPT = 10_000

_WRITE_IF_EPOCH = """
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return 0 end
if not redis.call('HGET', KEYS[1], 'dk') then return 0 end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i], 'EX', ARGV[2])
  redis.call('SADD', KEYS[2], KEYS[i])
end
return 1
"""

# KEYS: entries. Each entry with a "fresh until" loses it (keeping its TTL): it falls back
# to the polled TTL. An entry gone meanwhile stays gone. How many were shortened.
_SHORTEN = """
local n = 0
for i = 1, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local ok, doc = pcall(cjson.decode, raw)
    if ok and type(doc) == 'table' and doc['f'] ~= nil then
      doc['f'] = nil
      redis.call('SET', KEYS[i], cjson.encode(doc), 'KEEPTTL')
      n = n + 1
    end
  end
end
return n
"""

# KEYS: lock. ARGV: holder. Only the holder releases.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# for a cold fan-out's pipelines (storage/freebusy_rounds.py): the same unlock
UNLOCK = _UNLOCK


def entry_key(uid: str, gid: str, room_id: str, version: str, day: str) -> str:
    return f"{keys.user_tag(uid)}:fb:{gid}:{room_id}:{version}:{day}"


def fetch_lock(uid: str, gid: str) -> str:
    return f"{keys.grant(uid, gid)}:fetch"


@dataclass(frozen=True)
class Entry:
    busy: tuple[tuple[int, int], ...]
    fetched_at: float
    fresh_until: float | None = None  # None: fresh for the TTL of polled calendars


class FreeBusyCache:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._write = client.register_script(_WRITE_IF_EPOCH)
        self._unlock = client.register_script(_UNLOCK)
        self._shorten = client.register_script(_SHORTEN)
        self._parsed: dict[str, Entry | None] = {}

    def answers_lease(self) -> answers.Lease:
        """The generation of remembered answers, as this worker reads it (answers.py)."""
        return answers.shared_lease(self.client)  # one per process: the API clients' too

    def bump_answers(self, *, settled: bool = True) -> None:
        """Remembered answers are out of date (answers.py)."""
        answers.bump(self.client, settled=settled)

    def read(self, entry_keys: Sequence[str]) -> list[Entry | None]:
        if not entry_keys:
            return []
        try:
            values = get_many(self.client, entry_keys)
        except UnicodeDecodeError:  # an entry that is not ours: read one by one, drop it
            values = [self._readable(key) for key in entry_keys]
        return [self._parse(raw) for raw in values]

    def parsed(self, raws: Sequence[object]) -> list[Entry | None]:
        """Entries from their stored texts, as `read` would return them (a cold round's
        pipeline read them: storage/freebusy_rounds.py)."""
        return [self._parse(raw) for raw in raws]

    def _readable(self, key: str) -> str | None:
        """One entry's text; an entry that is not UTF-8 is deleted (a cache: it refills)."""
        try:
            value = self.client.get(key)
        except UnicodeDecodeError:
            unreadable("free/busy cache entry")
            self.client.delete(key)
            return None
        return None if value is None else str(value)

    def _parse(self, raw: object) -> Entry | None:
        """Warm reads return the same few values again and again: parse each once."""
        if not isinstance(raw, str):
            return _entry(raw)
        entry = self._parsed.get(raw)
        if entry is None:
            entry = _entry(raw)
            if len(self._parsed) >= PARSED_KEPT:
                self._parsed.clear()
            self._parsed[raw] = entry
        return entry

    def epoch(self, uid: str, gid: str) -> str | None:
        value = self.client.hget(keys.grant(uid, gid), "epoch")
        return None if value is None else str(value)

    def write(
        self,
        uid: str,
        gid: str,
        epoch: str,
        entries: dict[str, Entry],
        ttl_seconds: int,
    ) -> bool:
        if not entries:
            return True
        names = list(entries)
        values = [json.dumps(_document(entries[n])) for n in names]
        written = self._write(
            keys=[keys.grant(uid, gid), keys.grant_cached(uid, gid), *names],
            args=[epoch, max(1, ttl_seconds), *values],
        )
        return bool(written)

    def _days_of(
        self, uid: str, gid: str, slots: Sequence[tuple[str, str]]
    ) -> tuple[dict[tuple[str, str], set[str]], list[str]]:
        """The cached days of these (room, version) slots of a grant, and their keys."""
        prefixes = {
            f"{keys.user_tag(uid)}:fb:{gid}:{room}:{version}:": (room, version)
            for room, version in slots
        }
        found: dict[tuple[str, str], set[str]] = {}
        names: list[str] = []
        for name in map(str, self.client.smembers(keys.grant_cached(uid, gid))):
            head, _, day = name.rpartition(":")
            slot = prefixes.get(head + ":")
            if slot is not None:
                found.setdefault(slot, set()).add(day)
                names.append(name)
        return found, names

    def shorten(self, uid: str, gid: str, slots: Sequence[tuple[str, str]]) -> int:
        """These slots' days, cached under a watched calendar's longer TTL, fall back to
        the polled TTL (its watch was lost); how many were."""
        _, names = self._days_of(uid, gid, slots)
        return int(self._shorten(keys=names)) if names else 0

    def drop_days(
        self, uid: str, gid: str, slots: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Entry | None]]:
        """Delete the cached days of these (room, version) slots of a grant (their calendar
        changed at the provider); which days each had, with what they held (the change
        feed tells only of days whose busy time the re-read changed)."""
        index = keys.grant_cached(uid, gid)
        days, doomed = self._days_of(uid, gid, slots)
        held = dict(zip(doomed, self.read(doomed), strict=True))
        if doomed:
            self.client.delete(*doomed)
            self.client.srem(index, *doomed)
        return {
            (room, version): {
                day: held.get(entry_key(uid, gid, room, version, day)) for day in sorted(found)
            }
            for (room, version), found in days.items()
        }

    def lock(self, uid: str, gid: str, milliseconds: int) -> str | None:
        holder = secrets.token_urlsafe(9)
        taken = self.client.set(fetch_lock(uid, gid), holder, nx=True, px=milliseconds)
        return holder if taken else None

    def lock_and_read(
        self, uid: str, gid: str, milliseconds: int, entry_keys: Sequence[str]
    ) -> tuple[str | None, list[Entry | None], str | None]:
        """`lock`, then the entries `read` would return and the grant's `epoch`, in one round
        trip instead of three (a cold fan-out makes this call once per grant). The reads
        come after the lock is taken, as separate calls would; all keys are the user's
        (one hash tag: one slot on a Cluster). Entries and epoch mean nothing unless the
        lock was taken (a holder)."""
        holder = secrets.token_urlsafe(9)
        pipe = self.client.pipeline(transaction=False)
        pipe.set(fetch_lock(uid, gid), holder, nx=True, px=milliseconds)
        for name in entry_keys:  # GETs, not MGET: a Cluster's pipeline refuses MGET
            pipe.get(name)
        pipe.hget(keys.grant(uid, gid), "epoch")
        try:
            found = pipe.execute()
        except UnicodeDecodeError:  # an entry that is not ours: the lock went first
            taken = self.client.get(fetch_lock(uid, gid)) == holder
            return (holder if taken else None), self.read(entry_keys), self.epoch(uid, gid)
        if not found[0]:
            return None, [], None
        epoch = found[-1]
        entries = [self._parse(raw) for raw in found[1:-1]]
        return holder, entries, None if epoch is None else str(epoch)

    def locked(self, uid: str, gid: str) -> bool:
        return bool(self.client.exists(fetch_lock(uid, gid)))

    def unlock(self, uid: str, gid: str, holder: str) -> None:
        self._unlock(keys=[fetch_lock(uid, gid)], args=[holder])


def _document(entry: Entry) -> dict[str, object]:
    document: dict[str, object] = {"b": list(map(list, entry.busy)), "t": entry.fetched_at}
    if entry.fresh_until is not None:
        document["f"] = entry.fresh_until
    return document


document = _document  # for storage/freebusy_rounds.py


def _entry(raw: object) -> Entry | None:
    if raw is None:
        return None
    try:
        data = json.loads(str(raw))
        busy = tuple((int(s), int(e)) for s, e in data["b"])
        until = data.get("f")
        return Entry(busy, float(data["t"]), None if until is None else float(until))
    except (ValueError, KeyError, TypeError, OverflowError):
        unreadable("free/busy cache entry")
        return None

"""A cold fan-out's Redis work for all its grants at once: one pipeline before the provider
calls, one after (services/freebusy_round.py says why and what stays per grant).

Before (`open`), per grant in one script: its fetch lock (SET NX), then its cached
entries, its grant hash and the binding hashes of its rooms; then one breaker admit per
grant that must call its provider (storage/breaker.py `admit_many`). After (`close`), per
grant in one script: its epoch-checked writes, then its unlock; then one breaker success
per provider that answered promptly, then the answers' generation bump. A grant's keys
all carry its user's hash tag and a provider's its breaker's, so each script stays in one
slot and on a Cluster the pipeline splits per node (the bump goes apart, after it).
Scripts go as EVAL (grant_scripts.py `queue_eval`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from gateway.storage import answers, keys
from gateway.storage.breaker import SUCCESS, provider_keys
from gateway.storage.freebusy_cache import UNLOCK, Entry, document, fetch_lock
from gateway.storage.grant_scripts import queue_eval
from gateway.storage.grants import GrantRecord
from gateway.storage.grants import grant_record_of as record_of
from gateway.storage.room_calendars import BindingRecord, records_of
from gateway.storage.room_keys import binding


@dataclass
class Opened:
    """What one grant's lock and reads found: a holder (None: another fetch holds the
    lock, and the rest means nothing), its entries' raw texts, its grant hash and its
    bindings (None: one of the older shape, read per grant instead)."""

    holder: str | None
    entries: list[Any]
    grant: GrantRecord | None
    epoch: str | None
    bindings: list[BindingRecord] | None


@dataclass
class Closing:
    """What one grant leaves after its call: writes by TTL under `epoch`, and its lock."""

    uid: str
    gid: str
    holder: str
    epoch: str | None = None
    writes: dict[int, dict[str, Entry]] = field(default_factory=dict)


# KEYS: the fetch lock, the grant hash, entries..., bindings... ARGV: holder, lock ms, how
# many entries. 0 when another fetch holds the lock; else {1, grant hash, entries, binding
# hashes}, hashes flat (field, value, ...), a missing entry false (nil).
_LOCK_AND_READ = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local n = tonumber(ARGV[3])
local entries, bindings = {}, {}
for i = 3, 2 + n do entries[#entries + 1] = redis.call('GET', KEYS[i]) end
for i = 3 + n, #KEYS do bindings[#bindings + 1] = redis.call('HGETALL', KEYS[i]) end
return {1, redis.call('HGETALL', KEYS[2]), entries, bindings}
"""


# KEYS: grant hash, cached index, fetch lock, entries... ARGV: epoch ("": none), lock
# holder, then (ttl, value) per entry. The entries are written only while the grant's epoch
# is the one read under the lock (and the grant active with its data key: a revocation
# ends both), then the lock goes if still the holder's. 1 unless writes were dropped.
_WRITE_AND_UNLOCK = """
local held = 1
if #KEYS > 3 then
  if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1]
     or redis.call('HGET', KEYS[1], 'status') ~= 'active'
     or not redis.call('HGET', KEYS[1], 'dk') then
    held = 0
  else
    for i = 4, #KEYS do
      local at = 3 + (i - 4) * 2
      redis.call('SET', KEYS[i], ARGV[at + 1], 'EX', ARGV[at])
      redis.call('SADD', KEYS[2], KEYS[i])
    end
  end
end
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return held
"""


def _hash(flat: Any) -> dict[str, str]:
    """A hash as a script returns it: field, value, field, value..."""
    if isinstance(flat, dict):
        return cast(dict[str, str], flat)
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RoundStore:
    """The pipelines of a cold fan-out (services/freebusy_round.py)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def open(
        self,
        grants: Sequence[tuple[str, str, Sequence[str], Sequence[str]]],
        milliseconds: int,
    ) -> list[Opened] | None:
        """Lock and read each (uid, gid, entry keys, room ids): one script per grant (its
        keys share a slot), all in one pipeline. None when a value was not text (not
        ours): nothing is left locked, read them grant by grant."""
        holders = [secrets.token_urlsafe(9) for _ in grants]
        pipe = self.client.pipeline(transaction=False)
        for (uid, gid, entry_keys, room_ids), holder in zip(grants, holders, strict=True):
            names = [fetch_lock(uid, gid), keys.grant(uid, gid), *entry_keys]
            names += [binding(uid, room_id) for room_id in room_ids]
            queue_eval(pipe, _LOCK_AND_READ, names, holder, milliseconds, len(entry_keys))
        try:
            found = pipe.execute()
        except UnicodeDecodeError:
            self.unlock([(g[0], g[1], h) for g, h in zip(grants, holders, strict=True)])
            return None
        opened = []
        for (uid, _, _, _), holder, one in zip(grants, holders, found, strict=True):
            if not one:
                opened.append(Opened(None, [], None, None, None))
                continue
            raw = _hash(one[1])
            records = [b for flat in one[3] for b in records_of(uid, _hash(flat))]
            bindings = None if any(not b.version for b in records) else records
            epoch = raw.get("epoch")
            entries = [None if e is False else e for e in one[2]]  # RESP3 keeps Lua's false
            opened.append(Opened(holder, entries, record_of(uid, raw), epoch, bindings))
        return opened

    def close(
        self, closing: Sequence[Closing], prompt: Sequence[str]
    ) -> tuple[list[bool], list[tuple[int, int]]]:
        """Each grant's writes then its unlock (one script), then a breaker success per
        provider of `prompt`, then (when any grant has entries to write) the answers'
        generation bump, all in one pipeline; per grant whether its writes held (its epoch
        was still current), per provider the failures and slow answers the success reset.
        The bump comes even when every write was dropped (a revocation meanwhile): one
        more bump costs remembered answers, never a wrong one."""
        pipe = self.client.pipeline(transaction=False)
        for one in closing:
            entries = {
                name: (max(1, ttl), json.dumps(document(entry)))
                for ttl, group in one.writes.items()
                for name, entry in group.items()
            }
            if one.epoch is None:
                entries = {}
            names = [keys.grant(one.uid, one.gid), keys.grant_cached(one.uid, one.gid)]
            names += [fetch_lock(one.uid, one.gid), *entries]
            pairs = [part for ttl, value in entries.values() for part in (ttl, value)]
            queue_eval(pipe, _WRITE_AND_UNLOCK, names, one.epoch or "", one.holder, *pairs)
        for provider in prompt:
            queue_eval(pipe, SUCCESS, provider_keys(provider))
        writes = any(one.epoch is not None and any(one.writes.values()) for one in closing)
        bumping = writes and answers.bump_in(pipe)
        found = pipe.execute()
        if bumping:
            answers.bumped()
        elif writes:
            answers.bump(self.client, settled=False)  # a Cluster: after the writes, apart
        held = [bool(n) for n in found[: len(closing)]]
        at = len(closing)
        reset = [(int(n), int(s)) for n, s in found[at : at + len(prompt)]]
        return held, reset

    def unlock(self, locks: Sequence[tuple[str, str, str]]) -> None:
        """Release these (uid, gid, holder) fetch locks, each only if still its holder's."""
        if not locks:
            return
        pipe = self.client.pipeline(transaction=False)
        for uid, gid, holder in locks:
            queue_eval(pipe, UNLOCK, [fetch_lock(uid, gid)], holder)
        pipe.execute()

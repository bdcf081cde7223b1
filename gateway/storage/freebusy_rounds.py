"""A cold fan-out's Redis work for all its grants at once: one pipeline before the provider
calls, one after (services/freebusy_round.py says why and what stays per grant).

Before (`open`), per grant and in this order: its fetch lock (SET NX), its cached
entries, its grant hash and the binding hashes of its rooms; then one breaker admit per
grant that must call its provider (storage/breaker.py `admit_many`). After (`close`): each grant's
epoch-checked writes, then its unlock, then one breaker success per provider that answered
promptly. A grant's commands all carry its user's hash tag and a provider's its breaker's,
so on a Cluster the pipeline splits per node with each grant's order kept. Scripts go as
EVAL (grant_scripts.py `queue_eval`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from gateway.storage import keys
from gateway.storage.breaker import SUCCESS, provider_keys
from gateway.storage.freebusy_cache import UNLOCK, WRITE_IF_EPOCH, Entry, document, fetch_lock
from gateway.storage.grant_scripts import queue_eval
from gateway.storage.grants import GrantRecord
from gateway.storage.grants import _record as record_of  # grants.py is at its 300 lines
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


class RoundStore:
    """The pipelines of a cold fan-out (services/freebusy_round.py)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def open(
        self,
        grants: Sequence[tuple[str, str, Sequence[str], Sequence[str]]],
        milliseconds: int,
    ) -> list[Opened] | None:
        """Lock and read each (uid, gid, entry keys, room ids) in one pipeline. None when a
        value was not text (not ours): nothing is left locked, read them grant by grant."""
        holders = [secrets.token_urlsafe(9) for _ in grants]
        pipe = self.client.pipeline(transaction=False)
        for (uid, gid, entry_keys, room_ids), holder in zip(grants, holders, strict=True):
            pipe.set(fetch_lock(uid, gid), holder, nx=True, px=milliseconds)
            for name in entry_keys:  # GETs, not MGET: a Cluster's pipeline refuses MGET
                pipe.get(name)
            pipe.hgetall(keys.grant(uid, gid))
            for room_id in room_ids:
                pipe.hgetall(binding(uid, room_id))
        try:
            found = pipe.execute()
        except UnicodeDecodeError:
            self.unlock([(g[0], g[1], h) for g, h in zip(grants, holders, strict=True)])
            return None
        opened = []
        at = 0
        for (uid, _, entry_keys, room_ids), holder in zip(grants, holders, strict=True):
            taken = bool(found[at])
            entries = found[at + 1 : at + 1 + len(entry_keys)]
            at += 1 + len(entry_keys)
            raw = cast(dict[str, str], found[at])
            raws = cast(list[dict[str, str]], found[at + 1 : at + 1 + len(room_ids)])
            at += 1 + len(room_ids)
            records = [b for hashed in raws for b in records_of(uid, hashed)]
            bindings = None if any(not b.version for b in records) else records
            record = record_of(uid, raw)
            epoch = raw.get("epoch")
            opened.append(Opened(holder if taken else None, entries, record, epoch, bindings))
        return opened

    def close(
        self, closing: Sequence[Closing], prompt: Sequence[str]
    ) -> tuple[list[bool], list[tuple[int, int]]]:
        """Each grant's writes then its unlock, then a breaker success per provider of
        `prompt`; per grant whether every write held (its epoch was still current), per
        provider the failures and slow answers the success reset."""
        pipe = self.client.pipeline(transaction=False)
        counts = []
        for one in closing:
            written = 0
            for ttl, entries in one.writes.items():
                if not entries or one.epoch is None:
                    continue
                names = list(entries)
                values = [json.dumps(document(entries[n])) for n in names]
                head = [keys.grant(one.uid, one.gid), keys.grant_cached(one.uid, one.gid), *names]
                queue_eval(pipe, WRITE_IF_EPOCH, head, one.epoch, max(1, ttl), *values)
                written += 1
            queue_eval(pipe, UNLOCK, [fetch_lock(one.uid, one.gid)], one.holder)
            counts.append(written)
        for provider in prompt:
            queue_eval(pipe, SUCCESS, provider_keys(provider))
        found = pipe.execute()
        held = []
        at = 0
        for written in counts:
            held.append(all(bool(found[at + n]) for n in range(written)))
            at += written + 1
        reset = [(int(n), int(s)) for n, s in found[at:]]
        return held, reset

    def unlock(self, locks: Sequence[tuple[str, str, str]]) -> None:
        """Release these (uid, gid, holder) fetch locks, each only if still its holder's."""
        if not locks:
            return
        pipe = self.client.pipeline(transaction=False)
        for uid, gid, holder in locks:
            queue_eval(pipe, UNLOCK, [fetch_lock(uid, gid)], holder)
        pipe.execute()

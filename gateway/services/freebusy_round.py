"""A cold fan-out's Redis work, done for all its grants at once (issue 17).

A grant's fetch made about ten Redis round trips of its own (its lock and entries, its
grant hash twice - for the token and for the binding's calendars -, its bindings, the
breaker's admit and success, the epoch-checked write, the generation bump, the unlock),
each a GIL hand-off among up to 256 fetch threads. A round now makes them together:

- `open`, in the query's thread before any call: every grant's lock, entries, grant hash
  and bindings in one pipeline (one script per grant), then the breaker's admits of those
  that must call in a second. What needs no call (fresh meanwhile, ended, refused by the
  breaker) is unlocked in one more; a grant another process holds goes the per-grant way
  (it waits for that fetch, freebusy_fetch.py).
- the fetch threads open the token and calendars from the hash already read (no Redis,
  unless the token is due for a refresh, which stays per grant and single-flight) and
  call the provider.
- `close`: a thread that finished hands its answers, its lock and the providers that
  answered promptly to a group commit: the first one writes at once, those finishing
  meanwhile together next: their watched calendars looked up (two pipelines), then in
  one pipeline each grant's epoch-checked writes and unlock (one script), one breaker
  success per provider and the generation bump (on a Cluster, whose pipeline has no
  order across nodes, the bump right after it). Nobody waits for the slowest grant.

Unchanged: a grant's lock is taken before its entries and epoch are read and released
after its writes (the same script each time: its keys share one slot); every write is
checked against the epoch read under the lock, so a revocation in between leaves
nothing; a call is admitted before it is made, and its failures and slow answers are
counted when they happen (freebusy_calls.py), its prompt answers with the writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from gateway.services.breaker import HELD, OPEN, CircuitBreaker
from gateway.services.freebusy_freshness import Freshness
from gateway.services.grants import GrantService
from gateway.services.room_binding_views import Slot, bound_calendars
from gateway.storage.freebusy_cache import Entry, FreeBusyCache, entry_key
from gateway.storage.freebusy_rounds import Closing, RoundStore
from gateway.storage.grants import GrantRecord
from gateway.storage.room_calendars import BindingRecord

if TYPE_CHECKING:
    from gateway.services.freebusy_fetch import GrantNeed

log = logging.getLogger(__name__)

DONE = "done"  # `open`: nothing to call for this grant (its lock, if taken, released)


@dataclass(frozen=True)
class Ready:
    """A grant whose lock the round took and that must call its provider."""

    holder: str
    epoch: str
    record: GrantRecord
    bindings: list[BindingRecord] | None  # None: an older binding shape, read per grant


@dataclass
class _Handed:
    closing: Closing
    answered: Answered | None
    prompt: set[str]
    held: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def need_keys(need: GrantNeed) -> list[str]:
    """The cache entries a grant's need reads and writes."""
    return [
        entry_key(need.uid, need.gid, room_id, version, day.isoformat())
        for room_id, version in need.slots
        for day in need.days
    ]


class ColdRounds:
    def __init__(
        self,
        store: RoundStore,
        cache: FreeBusyCache,
        breaker: CircuitBreaker,
        freshness: Freshness,
        grants: GrantService,
    ) -> None:
        self.store = store
        self.cache = cache
        self.breaker = breaker
        self.freshness = freshness
        self.grants = grants
        self._handed: list[_Handed] = []
        self._closing = False
        self._lock = threading.Lock()

    def open(
        self, needs: Sequence[GrantNeed], lock_ms: int, providers: Collection[str]
    ) -> tuple[dict[str, Ready | str | None], Callable[[], None]]:
        """Per grant id: Ready (call), DONE (nothing to call) or None (not locked here: the
        per-grant way); and what releases the locks of the DONE ones (to run once the
        calls are under way)."""
        opened = self.store.open(
            [(n.uid, n.gid, need_keys(n), sorted({r for r, _ in n.slots})) for n in needs],
            lock_ms,
        )
        found: dict[str, Ready | str | None] = {n.gid: None for n in needs}
        if opened is None:  # a value that is not ours: grant by grant, as before
            return found, lambda: None
        done: list[tuple[str, str, str]] = []
        calling: list[tuple[GrantNeed, Ready]] = []
        for need, one in zip(needs, opened, strict=True):
            if one.holder is None:
                continue
            now = time.time()
            entries = self.cache.parsed(one.entries)
            fresh = all(e is not None and self.freshness.is_fresh(e, now) for e in entries)
            epoch, record = one.epoch, one.grant
            if fresh or not need.active or epoch is None or record is None:
                done.append((need.uid, need.gid, one.holder))  # fresh meanwhile, or ended
            elif need.provider not in providers:
                done.append((need.uid, need.gid, one.holder))
            else:
                calling.append((need, Ready(one.holder, epoch, record, one.bindings)))
        for _, gid, _ in done:
            found[gid] = DONE
        states = self.breaker.admit_many([(n.provider, n.gid) for n, _ in calling])
        for (need, ready), state in zip(calling, states, strict=True):
            if state in (OPEN, HELD):  # its rooms stay unknown (or stale within the bound)
                found[need.gid] = DONE
                done.append((need.uid, need.gid, ready.holder))
            else:
                found[need.gid] = ready
        return found, lambda: self.store.unlock(done)

    def calendars(self, ready: Ready, slots: Sequence[Slot]) -> dict[Slot, str]:
        """(room id, version) -> calendar id for `slots` bound to the grant, from the
        bindings the round read."""
        return bound_calendars(self.grants, ready.record, ready.bindings or [], slots)

    def entries(self, answered: Answered) -> dict[int, dict[str, Entry]]:
        """A grant's entries by TTL, its watched calendars looked up on its own (the
        per-grant way; a round looks them up for all it closes at once)."""
        watched = self.freshness.watched_until(*answered.asked, answered.fetched_at)
        return entries_by_ttl(self.freshness, answered, watched)

    def close(self, closing: Closing, answered: Answered | None, prompt: set[str]) -> bool:
        """Write a grant's entries (what it `answered`) under its epoch, release its lock
        and record its prompt answers, together with whatever other fetches hand in
        meanwhile; False when a write was dropped (the grant changed meanwhile)."""
        handed = _Handed(closing, answered, set(prompt))
        with self._lock:
            self._handed.append(handed)
            leading = not self._closing
            self._closing = True
        if not leading:
            handed.done.wait()
            return handed.held
        while True:
            with self._lock:
                batch, self._handed = self._handed, []
                if not batch:
                    self._closing = False
                    break
            self._close(batch)
        return handed.held

    def _close(self, batch: list[_Handed]) -> None:
        providers = sorted({p for one in batch for p in one.prompt})
        held = [False] * len(batch)
        try:
            self._entries(batch)
        except Exception as error:  # nothing written, but the locks go all the same
            log.error("free/busy round lookup failed (%s)", type(error).__name__)
            for one in batch:
                one.closing.writes = {}
        try:
            # the writes, unlocks, breaker successes and generation bump (a fresher fill:
            # nothing to wait for) in one round trip
            held, reset = self.store.close([one.closing for one in batch], providers)
            for provider, counts in zip(providers, reset, strict=True):
                self.breaker.closed(provider, *counts)
        except Exception as error:  # the locks expire by themselves; the rooms stay unknown
            log.error("free/busy round close failed (%s)", type(error).__name__)
        finally:
            for one, h in zip(batch, held, strict=True):
                one.held = h
                one.done.set()

    def _entries(self, batch: list[_Handed]) -> None:
        """The entries of every grant of `batch` that answered, their watched calendars
        looked up at once, just before their writes (as close to them as a grant's own
        lookup was: a channel lost in between is all it can miss)."""
        answered = [(one, one.answered) for one in batch if one.answered is not None]
        lasting = self.freshness.lasting_many([a.asked for _, a in answered])
        for (one, a), found in zip(answered, lasting, strict=True):
            watched = self.freshness.watched_from(found, a.fetched_at)
            one.closing.writes = entries_by_ttl(self.freshness, a, watched)


def day_bounds(day: date) -> tuple[int, int]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return start, start + 86400


@dataclass(frozen=True)
class Answered:
    """What a grant's provider answered, to be written as its cache entries."""

    need: GrantNeed
    calendars: Mapping[Slot, str]  # (room id, version) -> calendar id
    days: list[date]
    results: Mapping[str, list[tuple[int, int]]]  # calendar id -> busy (epoch seconds)
    failed: set[str]  # calendar ids whose answer failed: no entry
    fetched_at: float = field(default_factory=time.time)

    @property
    def asked(self) -> tuple[str, str, list[str]]:
        return self.need.uid, self.need.gid, sorted(set(self.calendars.values()))


def entries_by_ttl(
    freshness: Freshness, answered: Answered, watched: Mapping[str, float]
) -> dict[int, dict[str, Entry]]:
    """One entry per (room, calendar, day) whose calendar answered, by TTL. A room's
    calendars of one grant that share an id are fetched once. A watched calendar's
    days (`watched`: calendar id -> fresh until) are fresh longer (Freshness), and kept
    in Redis that much longer."""
    need, fetched_at = answered.need, answered.fetched_at
    stale = freshness.stale_seconds
    by_ttl: dict[int, dict[str, Entry]] = {}
    for (room_id, version), cid in answered.calendars.items():
        if cid in answered.failed:
            continue
        until = watched.get(cid)
        ttl = int((until or fetched_at + freshness.ttl_seconds) - fetched_at) + stale
        for day in answered.days:
            low, high = day_bounds(day)
            busy = tuple(
                (max(s, low), min(e, high))
                for s, e in answered.results[cid]
                if s < high and e > low
            )
            name = entry_key(need.uid, need.gid, room_id, version, day.isoformat())
            by_ttl.setdefault(ttl, {})[name] = Entry(busy, fetched_at, until)
    return by_ttl

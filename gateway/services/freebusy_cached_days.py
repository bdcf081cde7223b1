"""Which cached days a free/busy query finds, and what each grant must fetch for the rest.

A query's rooms, bindings and cached days are read in round trips of one MGET each; this
module does the cached days: one read for every (room, calendar version, UTC day) the
query touches, then the misses grouped per host grant (`GrantNeed`). A day is a miss when
it has no entry or its entry is past the TTL; a grant is cold when one of its days has no
entry within the stale bound (the request must wait for it), otherwise its misses are
refreshed in the background while the stale days are served.

Which grants with a miss are active is read from Redis once per answers' generation and
then remembered by the worker (`KnownActive`): every write that ends a grant bumps the
generation after it commits and waits out the lease before it answers (storage/answers.py,
tests/gateway/storage/test_grant_status_bumps.py), so no grant is taken for active here
once its ending has answered, and a stale answer recomputed costs the one read of its
cached days that a warm one makes (it cost a second round trip: README "Benchmarks").
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import date

from gateway import metrics
from gateway.services.freebusy_fetch import GrantNeed
from gateway.services.freebusy_freshness import Freshness
from gateway.services.grants import GrantService
from gateway.storage.answers import Lease
from gateway.storage.freebusy_cache import Entry, FreeBusyCache, entry_key
from gateway.storage.grants import ACTIVE
from gateway.storage.rooms import Pointer

Pointers = Mapping[str, tuple[Pointer, ...]]  # room id -> its calendars: (uid, gid, version)
Entries = Mapping[tuple[str, str, date], Entry]  # (room id, calendar version, day) -> entry
KNOWN_AT_MOST = 10_000  # grants remembered as active per worker (a gid and a provider each)


class KnownActive:
    """The grants this worker read as active, with their provider, under one generation of
    the answers' counter; a new generation starts with none known."""

    def __init__(self, lease: Lease) -> None:
        self._lease = lease
        self._known: tuple[str, dict[str, str]] = ("", {})  # generation, gid -> provider

    def now(self) -> dict[str, str]:
        """Those known under the generation as it stands; read before the states it is
        filled with, so a state read after a change's bump is never kept under an older one."""
        generation = self._lease.current()
        known = self._known
        if known[0] != generation:
            known = self._known = (generation, {})
        return known[1]


class CachedDays:
    def __init__(self, grants: GrantService, cache: FreeBusyCache, freshness: Freshness) -> None:
        self.grants = grants
        self.cache = cache
        self.freshness = freshness
        self.known_active = KnownActive(cache.answers_lease())

    def read(self, bound: Pointers, days: list[date]) -> dict[tuple[str, str, date], Entry]:
        """Every cached day of the bound rooms' calendars, in one read."""
        wanted = [
            ((room_id, version, day), entry_key(uid, gid, room_id, version, day.isoformat()))
            for room_id, found in bound.items()
            for uid, gid, version in found
            for day in days
        ]
        values = self.cache.read([name for _, name in wanted])
        return {slot: entry for (slot, _), entry in zip(wanted, values, strict=True) if entry}

    def misses(self, bound: Pointers, days: list[date], entries: Entries) -> dict[str, GrantNeed]:
        """What each grant must fetch: its calendars' days that are missing or not fresh;
        a grant is cold when one of them has no entry within the stale bound."""
        now = time.time()
        fresh_until, stale_seconds = self.freshness.fresh_until, self.freshness.stale_seconds
        needs: dict[str, GrantNeed] = {}
        hits = wanted = 0
        for room_id, found in bound.items():
            for uid, gid, version in found:
                for day in days:
                    wanted += 1
                    entry = entries.get((room_id, version, day))
                    # Freshness.is_fresh and .servable, its time read once (a stale answer
                    # asks both of every day: README "Benchmarks")
                    until = fresh_until(entry) if entry is not None else None
                    if until is not None and now <= until:
                        hits += 1
                        continue
                    need = needs.get(gid)
                    if need is None:
                        need = needs[gid] = GrantNeed(uid, gid, "")
                    need.slots.add((room_id, version))
                    need.days.add(day)
                    if until is None or now > until + stale_seconds:
                        need.cold = True
        self._states(needs)
        metrics.cache(hit=True, n=hits)
        metrics.cache(hit=False, n=wanted - hits)
        return needs

    def _states(self, needs: Mapping[str, GrantNeed]) -> None:
        """Each grant's provider and whether it is active: known ones from memory, the rest
        in one round trip (one per grant was a stale answer's cost: README "Benchmarks")."""
        if not needs:  # a warm recomputation: nothing to read, no lease to look at
            return
        known = self.known_active.now()  # before the read: see KnownActive.now
        unknown = []
        for gid, need in needs.items():
            if gid in known:
                need.provider, need.active = known[gid], True
            else:
                unknown.append(need)
        if not unknown:
            return
        states = self.grants.states([(need.uid, need.gid) for need in unknown])
        for need, state in zip(unknown, states, strict=True):
            need.provider, status = state or ("", "")
            need.active = status == ACTIVE
            if need.active and len(known) < KNOWN_AT_MOST:
                known[need.gid] = need.provider

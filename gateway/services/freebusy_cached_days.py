"""Which cached days a free/busy query finds, and what each grant must fetch for the rest.

A query's rooms, bindings and cached days are read in round trips of one MGET each; this
module does the cached days: one read for every (room, calendar version, UTC day) the
query touches, then the misses grouped per host grant (`GrantNeed`). A day is a miss when
it has no entry or its entry is past the TTL; a grant is cold when one of its days has no
entry within the stale bound (the request must wait for it), otherwise its misses are
refreshed in the background while the stale days are served.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import date

from gateway import metrics
from gateway.services.freebusy_fetch import GrantNeed
from gateway.services.freebusy_freshness import Freshness
from gateway.services.grants import GrantService
from gateway.storage.freebusy_cache import Entry, FreeBusyCache, entry_key
from gateway.storage.grants import ACTIVE
from gateway.storage.rooms import Pointer

Pointers = Mapping[str, tuple[Pointer, ...]]  # room id -> its calendars: (uid, gid, version)
Entries = Mapping[tuple[str, str, date], Entry]  # (room id, calendar version, day) -> entry


class CachedDays:
    def __init__(self, grants: GrantService, cache: FreeBusyCache, freshness: Freshness) -> None:
        self.grants = grants
        self.cache = cache
        self.freshness = freshness

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
        needs: dict[str, GrantNeed] = {}
        hits = wanted = 0
        for room_id, found in bound.items():
            for uid, gid, version in found:
                for day in days:
                    wanted += 1
                    entry = entries.get((room_id, version, day))
                    if entry is not None and self.freshness.is_fresh(entry, now):
                        hits += 1
                        continue
                    if gid not in needs:
                        needs[gid] = GrantNeed(uid, gid, "")
                    needs[gid].slots.add((room_id, version))
                    needs[gid].days.add(day)
                    if entry is None or not self.freshness.servable(entry, now):
                        needs[gid].cold = True
        # every grant with a miss read in one round trip (a stale answer's cost was one
        # round trip per expired grant: README "Benchmarks")
        states = self.grants.states([(need.uid, need.gid) for need in needs.values()])
        for need, state in zip(needs.values(), states, strict=True):
            need.provider, status = state or ("", "")
            need.active = status == ACTIVE
        metrics.cache(hit=True, n=hits)
        metrics.cache(hit=False, n=wanted - hits)
        return needs

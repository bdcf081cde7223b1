"""Free/busy of bookable rooms: cached per (grant, binding, UTC day), fetched in batches.

A query reads rooms, bindings and cache entries in three round trips (MGET each). Misses
go to the fetcher (services/freebusy_fetch.py: per grant, batched, single-flight, under
one deadline and the grant's epoch) whose provider calls are retried and counted by the
circuit breaker (services/freebusy_calls.py); cached days become published busy time in
services/freebusy_compose.py. Provider latency stays out of the read path: a grant whose
days are all cached (expired ones within the stale bound) is answered at once and refreshed
in the background (services/freebusy_refresh.py); only a grant with a day not cached at all
is waited for, and only for the cold deadline. A room whose calendar cannot be read is
"unknown" (or a stale cached answer within the configured bound, marked stale), never free
and never a 500; a room with no calendar connected is "unbound"; a room whose host's grant the
provider refused (invalid_grant, a 401 that survives one forced refresh, a 403 for want of
scope) or that otherwise ended while still bound is "needs_reconnect", and the grant shows
why on its owner's account page. What is published is busy time only, clipped to bookable
hours. Recent answers are remembered per worker while the answers' generation holds
(services/freebusy_remembered.py); which days are cached and what each grant must fetch is
services/freebusy_cached_days.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from connectors.base import Connector
from gateway.services.breaker import CircuitBreaker
from gateway.services.callers import Caller
from gateway.services.freebusy_answer import (
    MAX_ROOMS,
    FreeBusyAnswer,
    RoomAvailability,
    RoomNotVisible,
    check_query,
    utc_days,
)
from gateway.services.freebusy_cached_days import CachedDays, Pointers
from gateway.services.freebusy_calls import ProviderCalls
from gateway.services.freebusy_changes import tell
from gateway.services.freebusy_compose import Composer
from gateway.services.freebusy_fetch import GrantFetcher, GrantNeed
from gateway.services.freebusy_freshness import Freshness, Lasting
from gateway.services.freebusy_refresh import Refresher
from gateway.services.freebusy_remembered import RememberedAnswers
from gateway.services.grants import GrantEndings, GrantService
from gateway.services.intervals import Interval, free_slots
from gateway.services.room_model import Room
from gateway.services.room_status import UNBOUND
from gateway.services.rooms import RoomService
from gateway.storage.freebusy_cache import FreeBusyCache
from gateway.storage.grants import ACTIVE
from gateway.storage.rooms import Pointer


class FreeBusyService:
    def __init__(
        self,
        rooms: RoomService,
        grants: GrantService,
        cache: FreeBusyCache,
        apis: Mapping[str, Connector],
        *,
        ttl_seconds: int,
        stale_seconds: int,
        deadline_seconds: float,
        cold_deadline_seconds: float | None = None,
        restricted_among: Callable[[set[str]], set[str]] = lambda _uids: set(),
        record_access: Callable[[str, Sequence[tuple[str, str]]], None] = lambda *_: None,
        breaker: CircuitBreaker,
        grant_endings: GrantEndings | None = None,
        watched_ttl_seconds: int = 0,
        lasting: Lasting | None = None,
        changed: Callable[[list[str], set[date]], object] = lambda *_: None,
    ) -> None:
        self.rooms = rooms
        self.grants = grants
        self.cache = cache
        self.apis = dict(apis)
        # watched calendars' days stay fresh longer (`lasting`: until when they are watched)
        self.freshness = Freshness(ttl_seconds, stale_seconds, watched_ttl_seconds, lasting)
        self.restricted_among = restricted_among
        self.record_access = record_access
        self.breaker = breaker
        self.changed = changed  # (rooms, days): the change feed (services/change_feed.py)
        self.max_rooms = MAX_ROOMS
        self.composer = Composer(self.freshness)
        self.fetcher = GrantFetcher(
            grants,
            cache,
            self.apis,
            ProviderCalls(grants, breaker),
            rooms.calendars_of,
            self.freshness,
            deadline_seconds,
        )
        # a request waits this long for what is not cached at all; the fetch goes on longer
        self.cold_deadline_seconds = min(
            deadline_seconds, cold_deadline_seconds or deadline_seconds
        )
        self.refresher = Refresher(self._refresh, self._still_active)
        self.remembered = RememberedAnswers()
        self.cached_days = CachedDays(grants, cache, self.freshness)
        self._generation = cache.answers_lease()
        self._lock = threading.Lock()
        if grant_endings is not None:  # in-process caches of an ended grant go with it
            grant_endings.subscribe(self.forget_grant)

    @property
    def ttl_seconds(self) -> int:
        return self.freshness.ttl_seconds

    @ttl_seconds.setter
    def ttl_seconds(self, seconds: int) -> None:
        self.freshness.ttl_seconds = seconds

    # -- rooms ---------------------------------------------------------------------------------
    def visible_rooms(self, caller: Caller) -> list[Room]:
        return [r for r in self.rooms.all() if caller.can_see(r.id, r.visibility, r.host)]

    def room_for(self, caller: Caller, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None or not caller.can_see(room.id, room.visibility, room.host):
            raise RoomNotVisible(room_id)
        return room

    def _visible(
        self, caller: Caller, room_ids: list[str], documents: list[str | None]
    ) -> list[Room]:
        found = []
        for room_id, document in zip(room_ids, documents, strict=True):
            room = self.composer.parse(document) if document else None
            if room is None or not caller.can_see(room.id, room.visibility, room.host):
                raise RoomNotVisible(room_id)
            found.append(room)
        return found

    def bookable(self, room: Room, start: datetime, end: datetime) -> list[Interval]:
        """The room's bookable windows in [start, end) (weekly hours and date exceptions)."""
        return self.composer.bookable(room, start, end)

    # -- the query -----------------------------------------------------------------------------
    def query(
        self,
        caller: Caller,
        room_ids: list[str],
        time_min: datetime,
        time_max: datetime,
        granularity: int = 0,
    ) -> FreeBusyAnswer:
        check_query(room_ids, time_min, time_max, granularity, self.max_rooms)
        asker = f"client:{caller.id}" if caller.kind == "client" else "member"
        generation = self._generation.current()  # before any data: see answers.py
        key = (caller, tuple(room_ids), time_min, time_max, granularity)
        remembered = self.remembered.get(key, generation)
        if remembered is not None:
            self.record_access(asker, remembered.hosts)
            return remembered.answer
        documents, pointers = self.rooms.documents_and_pointers(room_ids)
        rooms = self._visible(caller, room_ids, documents)
        availability = self._availability(rooms, time_min, time_max, granularity, pointers)
        hosts = tuple((r.id, r.host) for r in rooms if r.host)
        self.record_access(asker, hosts)
        answer = FreeBusyAnswer(time_min, time_max, availability)
        grants = frozenset(gid for found in pointers.values() for _, gid, _ in found)
        self.remembered.keep(
            key, generation, answer, hosts, grants, self.ttl_seconds, self.freshness.stale_seconds
        )
        return answer

    def slots(
        self, caller: Caller, room_id: str, start: datetime, end: datetime, duration: timedelta
    ) -> tuple[RoomAvailability, list[Interval]]:
        check_query([room_id], start, end, 0, self.max_rooms)
        room = self.room_for(caller, room_id)
        found = self._availability([room], start, end, 0)[room_id]
        asker = f"client:{caller.id}" if caller.kind == "client" else "member"
        if room.host:
            self.record_access(asker, [(room.id, room.host)])
        if found.status != "ok":
            return found, []
        windows = self.composer.bookable(room, start, end)
        return found, free_slots(found.busy, windows, duration)

    def _availability(
        self,
        rooms: list[Room],
        time_min: datetime,
        time_max: datetime,
        granularity: int,
        pointers: Pointers | None = None,
    ) -> dict[str, RoomAvailability]:
        """Each room's answer: the union of its calendars' busy times. Any one calendar
        unread makes the room unknown (never free) for the days it was not read (the
        composer); any one grant ended, needs_reconnect."""
        days = utc_days(time_min, time_max)
        if pointers is None:
            pointers = self.rooms.pointer_sets([r.id for r in rooms])
        restricted = self.restricted_among({p[0] for ps in pointers.values() for p in ps})
        answers: dict[str, RoomAvailability] = {}
        bound: dict[str, tuple[Pointer, ...]] = {}
        for room in rooms:
            found = pointers.get(room.id)
            if not found:
                answers[room.id] = RoomAvailability(room.id, UNBOUND)  # no calendar connected
            elif found[0][0] in restricted:
                answers[room.id] = RoomAvailability(room.id, "restricted")
            else:
                bound[room.id] = found
        entries = self.cached_days.read(bound, days)
        misses = self.cached_days.misses(bound, days, entries)
        waiting = {gid: n for gid, n in misses.items() if n.cold or not n.active}
        for gid, need in misses.items():
            if gid not in waiting:  # all cached, some expired: answer now, refresh later
                self.refresher.submit(need)
        ended: set[str] = set()
        if waiting:
            self.fetcher.fetch_all(waiting, wait_seconds=self.cold_deadline_seconds)
            entries = self.cached_days.read(bound, days)
            ended = self._ended(waiting)
        now = time.time()
        for room in rooms:
            if room.id in answers:
                continue
            gids = tuple(sorted({gid for _, gid, _ in bound[room.id]}))
            if ended.intersection(gids):
                answers[room.id] = RoomAvailability(room.id, "needs_reconnect")
                continue
            answers[room.id] = self.composer.compose(
                gids,
                room,
                days,
                [[entries.get((room.id, v, d)) for _, _, v in bound[room.id]] for d in days],
                now,
                time_min,
                time_max,
                granularity,
            )
        return answers

    def _refresh(self, need: GrantNeed) -> bool:
        """A background refresh, unless the host restricted processing since it was queued
        (nothing of a restricted host is fetched). True when nothing is left to refresh."""
        if self.restricted_among({need.uid}):
            return True
        return self.fetcher.refresh(need)

    def _ended(self, needs: Mapping[str, GrantNeed]) -> set[str]:
        """`_still_active` for a cold fetch's grants, their states read in one round trip
        (one per grant was some 40 round trips on a 40-grant cold query's path)."""
        was_active = [need for need in needs.values() if need.active]
        had_ended = [need for need in needs.values() if not need.active]
        states = self.grants.states([(need.uid, need.gid) for need in was_active])
        for need, state in zip(was_active, states, strict=True):
            need.active = state is not None and state[1] == ACTIVE
            if not need.active:
                self.forget_grant(need.uid, need.gid)
        for need in had_ended:  # perhaps in another process: its calendar APIs' entries go
            for api in self.apis.values():
                api.forget_grant(need.gid)
        return {gid for gid, need in needs.items() if not need.active}

    def _still_active(self, need: GrantNeed) -> bool:
        """Whether the grant is still usable after its fetch (which may have ended it).
        One that ended during the fetch is forgotten whole; one that had already ended
        (perhaps in another process) at least loses its calendar APIs' entries (cheap)."""
        if need.active:
            record = self.grants.get(need.uid, need.gid)
            need.active = record is not None and record.status == ACTIVE
            if not need.active:
                self.forget_grant(need.uid, need.gid)
        else:
            for api in self.apis.values():
                api.forget_grant(need.gid)
        return need.active

    def refresh_slots(self, uid: str, gid: str, slots: Sequence[tuple[str, str]]) -> int:
        """These slots' calendar changed at its provider: their cached days and answers go, days
        from yesterday on are read again (an active grant), the feed hears what changed."""
        dropped = self.cache.drop_days(uid, gid, slots)
        self.cache.bump_answers(settled=False)
        horizon = datetime.now(UTC).date() - timedelta(days=1)
        days = {d for f in dropped.values() for d in map(date.fromisoformat, f) if d >= horizon}
        record = self.grants.get(uid, gid)
        if days and record is not None and record.status == ACTIVE:
            need = GrantNeed(uid, gid, record.provider, slots=set(dropped), days=days)
            self.fetcher.fetch_all({gid: need})
        tell(self.changed, self.cache, uid, gid, slots, dropped, days)  # after the read
        return len(days)

    def forget_grant(self, uid: str, gid: str) -> None:
        """Drop everything this process keeps of a grant that ended: its published busy
        times, the remembered answers holding them and its calendar APIs' caches."""
        self.refresher.forget(gid)
        with self._lock:
            self.composer.forget_grant(gid)
        self.remembered.forget_grant(gid)
        for api in self.apis.values():
            api.forget_grant(gid)

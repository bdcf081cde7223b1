"""Free/busy of bookable rooms: cached per (grant, binding, UTC day), fetched in batches.

A query reads rooms, bindings and cache entries in three round trips (MGET each). Misses
are grouped per host grant into as few provider calls as the provider allows (Google: 50
calendars, Graph: 20 schedules per call; windows of at most 60 days), grants are fetched
concurrently under one deadline, and a 429/5xx is retried at most twice, with jitter, never
before its Retry-After, while the deadline allows; a Retry-After beyond that holds the grant
back for that long, in every process. A per-provider circuit breaker (services/breaker.py)
stops calling a provider after 5 failures in a row, for a cool-down, then lets one probe by.
A grant's fetches are single-flight across processes (a Redis lock; the others wait for
the cache). A fetch writes only under the grant epoch it started with, so
a revocation during the fetch leaves nothing behind. A room whose calendar cannot be read
is "unknown" (or a stale cached answer within the configured bound, marked stale), never
free and never a 500; a room with no calendar connected is "unbound"; a room whose host's
grant the provider refused (invalid_grant, a 401 that survives one forced refresh, a 403
for want of scope) or that otherwise ended while still bound is "needs_reconnect", and the
grant shows why on its owner's account page. What is published is busy time only, clipped
to bookable hours.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import CalendarBusy, Connector
from connectors.errors import AccessRefused, ConnectorError, ProviderUnavailable
from gateway import metrics
from gateway.services.breaker import HELD, OPEN, CircuitBreaker
from gateway.services.callers import Caller
from gateway.services.grants import GrantEndings, GrantService, GrantUnavailable
from gateway.services.intervals import (
    Interval,
    bookable_windows,
    free_slots,
    publishable,
    rfc3339,
)
from gateway.services.room_hours import exception_days
from gateway.services.room_status import UNBOUND
from gateway.services.rooms import Room, RoomService, read_room
from gateway.storage.freebusy_cache import Entry, FreeBusyCache, entry_key
from gateway.storage.grants import ACTIVE

log = logging.getLogger(__name__)

MAX_ROOMS = 250
MAX_DAYS = 31
GRANULARITIES = (0, 5, 10, 15, 30, 60)
POLL_SECONDS = 0.05
# A remembered answer is checked against the generation (storage/answers.py: what bumps it,
# and the lease a worker holds on it); this bound only limits what a missed bump could cost.
REMEMBER_AT_MOST_SECONDS = 5.0
REMEMBERED_ANSWERS = 1_000  # per worker: a 50-room answer with its JSON is some 30 KB
MAX_RETRIES = 2  # SECURITY.md T19: at most two retries of a provider call
RETRY_BACKOFF_SECONDS = 0.2  # without a Retry-After: 0.2 s, then 0.4 s, each jittered


class FreeBusyError(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class RoomNotVisible(FreeBusyError):
    def __init__(self, room_id: str) -> None:
        super().__init__("room_not_found", f"no such room: {room_id}", 404)


class QueryRefused(FreeBusyError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_request", message, 400)


@dataclass(frozen=True)
class RoomAvailability:
    room_id: str
    status: str  # one of services/room_status.py's STATUSES
    busy: tuple[Interval, ...] = ()
    stale: bool = False
    as_of: float | None = None


@dataclass(frozen=True)
class FreeBusyAnswer:
    time_min: datetime
    time_max: datetime
    rooms: dict[str, RoomAvailability]

    @cached_property
    def encoded(self) -> str:
        """The JSON document, encoded once: a remembered answer is served again as text."""
        return json.dumps(as_json(self), separators=(",", ":"))


@dataclass(frozen=True)
class _Remembered:
    """An answer a worker may serve again while the generation is unchanged and every
    cached day in it is still fresh."""

    generation: str
    valid_until: float
    answer: FreeBusyAnswer
    hosts: tuple[tuple[str, str], ...]
    grants: frozenset[str] = frozenset()  # whose busy times it holds (forget_grant)


@dataclass
class _Need:
    """What one grant must fetch: its rooms' calendars over a span of days."""

    uid: str
    gid: str
    provider: str
    active: bool = True  # False: the grant ended (its rooms need the host to reconnect)
    rooms: dict[str, str] = field(default_factory=dict)  # room id -> binding version
    days: set[date] = field(default_factory=set)


def utc_days(start: datetime, end: datetime) -> list[date]:
    first, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC)
    days, day = [], first
    while day <= last.date():
        days.append(day)
        day += timedelta(days=1)
    return days


def _day_bounds(day: date) -> tuple[int, int]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return start, start + 86400


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
        restricted_among: Callable[[set[str]], set[str]] = lambda _uids: set(),
        record_access: Callable[[str, Sequence[tuple[str, str]]], None] = lambda *_: None,
        breaker: CircuitBreaker,
        grant_endings: GrantEndings | None = None,
    ) -> None:
        self.rooms = rooms
        self.grants = grants
        self.cache = cache
        self.apis = dict(apis)
        self.ttl_seconds = ttl_seconds
        self.stale_seconds = stale_seconds
        self.deadline_seconds = deadline_seconds
        self.restricted_among = restricted_among
        self.record_access = record_access
        self.breaker = breaker
        self.max_rooms = MAX_ROOMS
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="freebusy")
        self._inflight: dict[tuple[str, str], threading.Event] = {}
        # Parsed rooms by their stored JSON, and bookable windows by (room, version, range):
        # the warm path reads rooms every time (for freshness) but parses each version once.
        self._parsed: dict[str, Room] = {}
        self._windows: dict[tuple[str, float, datetime, datetime], list[Interval]] = {}
        self._published: dict[tuple[Any, ...], tuple[Interval, ...]] = {}
        self._remembered: dict[tuple[Any, ...], _Remembered] = {}
        self._generation = cache.answers_lease()
        self._inflight_lock = threading.Lock()
        if grant_endings is not None:  # in-process caches of an ended grant go with it
            grant_endings.subscribe(self.forget_grant)

    # -- rooms ---------------------------------------------------------------------------------
    def visible_rooms(self, caller: Caller) -> list[Room]:
        return [r for r in self.rooms.all() if caller.can_see(r.id, r.visibility, r.host)]

    def room_for(self, caller: Caller, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None or not caller.can_see(room.id, room.visibility, room.host):
            raise RoomNotVisible(room_id)
        return room

    def _rooms_for(self, caller: Caller, room_ids: list[str]) -> list[Room]:
        documents = self.rooms.documents(room_ids)
        return self._visible(caller, room_ids, documents)

    def _visible(
        self, caller: Caller, room_ids: list[str], documents: list[str | None]
    ) -> list[Room]:
        found = []
        for room_id, document in zip(room_ids, documents, strict=True):
            room = self._parse(document) if document else None
            if room is None or not caller.can_see(room.id, room.visibility, room.host):
                raise RoomNotVisible(room_id)
            found.append(room)
        return found

    def _parse(self, document: str) -> Room | None:
        room = self._parsed.get(document)
        if room is None:
            room = read_room(document)
            if room is None:
                return None
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            self._parsed[document] = room
        return room

    def bookable(self, room: Room, start: datetime, end: datetime) -> list[Interval]:
        """The room's bookable windows in [start, end) (weekly hours and date exceptions)."""
        return self._bookable(room, start, end)

    def _bookable(self, room: Room, start: datetime, end: datetime) -> list[Interval]:
        key = (room.id, room.updated, start, end)
        windows = self._windows.get(key)
        if windows is None:
            if len(self._windows) > 10_000:
                self._windows.clear()
            windows = bookable_windows(
                room.hours, ZoneInfo(room.time_zone), start, end, exception_days(room.exceptions)
            )
            self._windows[key] = windows
        return windows

    # -- the query -----------------------------------------------------------------------------
    def query(
        self,
        caller: Caller,
        room_ids: list[str],
        time_min: datetime,
        time_max: datetime,
        granularity: int = 0,
    ) -> FreeBusyAnswer:
        self._check(room_ids, time_min, time_max, granularity)
        asker = f"client:{caller.id}" if caller.kind == "client" else "member"
        generation = self._generation.current()  # before any data: see answers.py
        key = (caller, tuple(room_ids), time_min, time_max, granularity)
        remembered = self._remembered.get(key)
        if (
            remembered is not None
            and remembered.generation == generation
            and time.time() < remembered.valid_until
        ):
            self.record_access(asker, remembered.hosts)
            return remembered.answer
        documents, pointers = self.rooms.documents_and_pointers(room_ids)
        rooms = self._visible(caller, room_ids, documents)
        availability = self._availability(rooms, time_min, time_max, granularity, pointers)
        hosts = tuple((r.id, r.host) for r in rooms if r.host)
        self.record_access(asker, hosts)
        answer = FreeBusyAnswer(time_min, time_max, availability)
        grants = frozenset(gid for _, gid, _ in pointers.values())
        self._remember(key, generation, answer, hosts, grants)
        return answer

    def _remember(
        self,
        key: tuple[Any, ...],
        generation: str,
        answer: FreeBusyAnswer,
        hosts: tuple[tuple[str, str], ...],
        grants: frozenset[str],
    ) -> None:
        """Keep an answer made only of fresh cached days (and restricted rooms): anything
        unknown or stale is asked again next time, so a provider that recovers is seen."""
        found = answer.rooms.values()
        if any(r.stale or r.status not in ("ok", "restricted") for r in found):
            return
        fetched = [r.as_of for r in found if r.as_of is not None]
        valid_until = min(fetched, default=time.time()) + self.ttl_seconds
        valid_until = min(valid_until, time.time() + REMEMBER_AT_MOST_SECONDS)
        if len(self._remembered) >= REMEMBERED_ANSWERS:
            self._remembered.clear()
        self._remembered[key] = _Remembered(generation, valid_until, answer, hosts, grants)

    def slots(
        self, caller: Caller, room_id: str, start: datetime, end: datetime, duration: timedelta
    ) -> tuple[RoomAvailability, list[Interval]]:
        self._check([room_id], start, end, 0)
        room = self.room_for(caller, room_id)
        found = self._availability([room], start, end, 0)[room_id]
        asker = f"client:{caller.id}" if caller.kind == "client" else "member"
        if room.host:
            self.record_access(asker, [(room.id, room.host)])
        if found.status != "ok":
            return found, []
        windows = self._bookable(room, start, end)
        return found, free_slots(found.busy, windows, duration)

    def _check(
        self, room_ids: list[str], time_min: datetime, time_max: datetime, granularity: int
    ) -> None:
        if not room_ids:
            raise QueryRefused("rooms: name at least one room")
        if len(room_ids) > self.max_rooms:
            raise QueryRefused(f"rooms: at most {self.max_rooms} rooms per call")
        if len(set(room_ids)) != len(room_ids):
            raise QueryRefused("rooms: a room is named twice")
        if time_min.tzinfo is None or time_max.tzinfo is None:
            raise QueryRefused("timeMin and timeMax need a time zone offset (RFC 3339)")
        if time_max <= time_min:
            raise QueryRefused("timeMax must be after timeMin")
        if time_max - time_min > timedelta(days=MAX_DAYS):
            raise QueryRefused(f"at most {MAX_DAYS} days per call")
        if granularity not in GRANULARITIES:
            raise QueryRefused(f"granularity must be one of {', '.join(map(str, GRANULARITIES))}")

    def _availability(
        self,
        rooms: list[Room],
        time_min: datetime,
        time_max: datetime,
        granularity: int,
        pointers: Mapping[str, tuple[str, str, str]] | None = None,
    ) -> dict[str, RoomAvailability]:
        days = utc_days(time_min, time_max)
        if pointers is None:
            pointers = self.rooms.pointers([r.id for r in rooms])
        restricted = self.restricted_among({uid for uid, _, _ in pointers.values()})
        answers: dict[str, RoomAvailability] = {}
        bound: dict[str, tuple[str, str, str]] = {}
        for room in rooms:
            pointer = pointers.get(room.id)
            if pointer is None:
                answers[room.id] = RoomAvailability(room.id, UNBOUND)  # no calendar connected
            elif pointer[0] in restricted:
                answers[room.id] = RoomAvailability(room.id, "restricted")
            else:
                bound[room.id] = pointer
        entries = self._read(bound, days)
        misses = self._misses(bound, days, entries)
        ended: set[str] = set()
        if misses:
            self._fetch_all(misses)
            entries = self._read(bound, days)
            ended = {gid for gid, need in misses.items() if not self._still_active(need)}
        now = time.time()
        for room in rooms:
            if room.id in answers:
                continue
            if bound[room.id][1] in ended:
                answers[room.id] = RoomAvailability(room.id, "needs_reconnect")
                continue
            answers[room.id] = self._compose(
                bound[room.id][1],
                room,
                [entries.get((room.id, d)) for d in days],
                now,
                time_min,
                time_max,
                granularity,
            )
        return answers

    def _read(
        self, bound: Mapping[str, tuple[str, str, str]], days: list[date]
    ) -> dict[tuple[str, date], Entry]:
        wanted = [
            ((room_id, day), entry_key(uid, gid, room_id, version, day.isoformat()))
            for room_id, (uid, gid, version) in bound.items()
            for day in days
        ]
        values = self.cache.read([name for _, name in wanted])
        return {slot: entry for (slot, _), entry in zip(wanted, values, strict=True) if entry}

    def _misses(
        self,
        bound: Mapping[str, tuple[str, str, str]],
        days: list[date],
        entries: Mapping[tuple[str, date], Entry],
    ) -> dict[str, _Need]:
        now = time.time()
        needs: dict[str, _Need] = {}
        hits = 0
        for room_id, (uid, gid, version) in bound.items():
            for day in days:
                entry = entries.get((room_id, day))
                if entry is not None and now - entry.fetched_at <= self.ttl_seconds:
                    hits += 1
                    continue
                if gid not in needs:
                    record = self.grants.get(uid, gid)
                    needs[gid] = _Need(
                        uid,
                        gid,
                        record.provider if record else "",
                        active=record is not None and record.status == ACTIVE,
                    )
                need = needs[gid]
                need.rooms[room_id] = version
                need.days.add(day)
        metrics.cache(hit=True, n=hits)
        metrics.cache(hit=False, n=len(bound) * len(days) - hits)
        return needs

    def _still_active(self, need: _Need) -> bool:
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

    def forget_grant(self, uid: str, gid: str) -> None:
        """Drop everything this process keeps of a grant that ended: its published busy
        times, the remembered answers holding them and its calendar APIs' caches."""
        with self._inflight_lock:
            self._published = {k: v for k, v in self._published.items() if k[0] != gid}
            self._remembered = {k: v for k, v in self._remembered.items() if gid not in v.grants}
        for api in self.apis.values():
            api.forget_grant(gid)

    def _compose(
        self,
        gid: str,
        room: Room,
        day_entries: list[Entry | None],
        now: float,
        time_min: datetime,
        time_max: datetime,
        granularity: int,
    ) -> RoomAvailability:
        if any(e is None for e in day_entries):
            return RoomAvailability(room.id, "unknown")
        present = [e for e in day_entries if e is not None]
        oldest = min(e.fetched_at for e in present)
        if now - oldest > self.stale_seconds + self.ttl_seconds:
            return RoomAvailability(room.id, "unknown")
        key = (
            gid,  # so that forget_grant finds what came from that grant
            room.id,
            room.updated,
            time_min,
            time_max,
            granularity,
            tuple((e.busy, e.fetched_at) for e in present),
        )
        published = self._published.get(key)
        if published is None:
            busy = [
                Interval(datetime.fromtimestamp(s, UTC), datetime.fromtimestamp(e, UTC))
                for entry in present
                for s, e in entry.busy
            ]
            windows = self._bookable(room, time_min, time_max)
            published = tuple(publishable(busy, windows, granularity))
            if len(self._published) > 20_000:
                self._published.clear()
            self._published[key] = published
        return RoomAvailability(
            room.id,
            "ok",
            published,
            stale=now - oldest > self.ttl_seconds,
            as_of=oldest,
        )

    # -- fetching ------------------------------------------------------------------------------
    def _fetch_all(self, needs: dict[str, _Need]) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        # each fetch runs in the request's context copy, so its log records name the request
        futures = [
            self._pool.submit(contextvars.copy_context().run, self._fetch_grant, need, deadline)
            for need in needs.values()
        ]
        wait(futures, timeout=max(0.0, deadline - time.monotonic()))

    def _fetch_grant(self, need: _Need, deadline: float) -> None:
        """One grant's misses, single-flight within this process and across processes."""
        key = (need.gid, ",".join(sorted(need.rooms)) + "|" + ",".join(sorted(map(str, need.days))))
        with self._inflight_lock:
            running = self._inflight.get(key)
            if running is None:
                running = self._inflight[key] = threading.Event()
                leader = True
            else:
                leader = False
        if not leader:
            running.wait(timeout=max(0.0, deadline - time.monotonic()))
            return
        try:
            self._fetch_across_processes(need, deadline)
        except Exception as error:  # a per-grant failure never fails the query: "unknown"
            # the type only: a traceback or a message could quote a provider's answer
            log.error("free/busy fetch failed: grant=%s (%s)", need.gid, type(error).__name__)
        finally:
            with self._inflight_lock:
                self._inflight.pop(key, None)
            running.set()

    def _fetch_across_processes(self, need: _Need, deadline: float) -> None:
        milliseconds = int(self.deadline_seconds * 1000) + 1000
        while time.monotonic() < deadline:
            holder = self.cache.lock(need.uid, need.gid, milliseconds)
            if holder is not None:
                try:
                    if not self._all_fresh(need):  # another fetch may have just finished
                        self._fetch(need, deadline)
                finally:
                    self.cache.unlock(need.uid, need.gid, holder)
                return
            while self.cache.locked(need.uid, need.gid) and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            if self._all_fresh(need):
                return

    def _all_fresh(self, need: _Need) -> bool:
        names = [
            entry_key(need.uid, need.gid, room_id, version, day.isoformat())
            for room_id, version in need.rooms.items()
            for day in need.days
        ]
        now = time.time()
        return all(
            e is not None and now - e.fetched_at <= self.ttl_seconds for e in self.cache.read(names)
        )

    def _fetch(self, need: _Need, deadline: float) -> None:
        if not need.active:
            return  # an ended grant: its rooms need the host, not the provider
        epoch = self.cache.epoch(need.uid, need.gid)
        if epoch is None:
            return
        api = self.apis.get(need.provider)
        if api is None or self.breaker.admit(need.provider, need.gid) in (OPEN, HELD):
            return  # its rooms stay unknown (or stale within the bound)
        try:
            token = self.grants.access_token(need.uid, need.gid)
        except GrantUnavailable:
            return
        except ProviderUnavailable as error:  # the token endpoint is the provider too
            self._failed(need, error)
            return
        except ConnectorError as error:
            log.info("free/busy fetch skipped: grant=%s refresh failed (%s)", need.gid, error.code)
            return
        calendars = self._calendars(need)
        if not calendars:
            return
        days = sorted(need.days)
        start = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
        end = datetime(days[-1].year, days[-1].month, days[-1].day, tzinfo=UTC) + timedelta(1)
        ids = sorted(set(calendars.values()))
        per_call = api.capabilities.batch_size
        results: dict[str, list[tuple[int, int]]] = {cid: [] for cid in ids}
        failed: set[str] = set()
        window_start = start
        while window_start < end:
            window_end = min(end, window_start + api.capabilities.window_limit)
            for chunk_at in range(0, len(ids), per_call):
                chunk = ids[chunk_at : chunk_at + per_call]
                try:
                    answer = self._call_with_retries(
                        api, need, token, chunk, window_start, window_end, deadline
                    )
                except AccessRefused as refused:
                    fresh = self._after_refusal(need, token, refused)
                    if fresh is None:
                        return  # the grant ended (its rooms answer needs_reconnect)
                    token = fresh
                    try:
                        answer = self._call_with_retries(
                            api, need, token, chunk, window_start, window_end, deadline
                        )
                    except AccessRefused as again:  # even a fresh token: the grant ends
                        log.info("free/busy refused again: grant=%s (%s)", need.gid, again.code)
                        self.grants.refused(need.uid, need.gid, again)
                        return
                for cid in chunk:
                    got = answer.get(cid) if answer is not None else None
                    if got is None or got.error is not None:
                        failed.add(cid)
                        continue
                    results[cid] += [(int(s.timestamp()), int(e.timestamp())) for s, e in got.busy]
            window_start = window_end
        fetched_at = time.time()
        entries: dict[str, Entry] = {}
        for room_id, cid in calendars.items():
            if cid in failed:
                continue
            version = need.rooms[room_id]
            for day in days:
                low, high = _day_bounds(day)
                busy = tuple(
                    (max(s, low), min(e, high)) for s, e in results[cid] if s < high and e > low
                )
                name = entry_key(need.uid, need.gid, room_id, version, day.isoformat())
                entries[name] = Entry(busy=busy, fetched_at=fetched_at)
        ttl = self.ttl_seconds + self.stale_seconds
        if not self.cache.write(need.uid, need.gid, epoch, entries, ttl):
            log.info("free/busy result dropped: grant=%s changed meanwhile", need.gid)
            return
        self.cache.bump_answers(settled=False)  # a fresher fill: nothing to wait for

    def _after_refusal(self, need: _Need, token: str, refused: AccessRefused) -> str | None:
        """The API refused the token (401) or the grant's scopes (403). A 401 gets one new
        token (a refresh, which ends the grant on invalid_grant); a 403 ends it at once.
        None when the grant has ended."""
        log.info("free/busy refused: grant=%s (%s)", need.gid, refused.code)
        if refused.code == AccessRefused.code:
            try:
                return self.grants.access_token(need.uid, need.gid, refused=token)
            except GrantUnavailable:
                return None
            except ConnectorError as error:  # the token endpoint failed: try again later
                if isinstance(error, ProviderUnavailable):
                    self._failed(need, error)
                return None
        self.grants.refused(need.uid, need.gid, refused)
        return None

    def _calendars(self, need: _Need) -> dict[str, str]:
        """room id -> calendar id, opened from the bindings (only on the cold path)."""
        return self.rooms.calendars_of(need.uid, need.gid, sorted(need.rooms))

    def _failed(self, need: _Need, error: ProviderUnavailable) -> None:
        """A provider call failed: count it, and keep its Retry-After for every process."""
        self.breaker.failure(need.provider)
        if error.retry_after:
            self.breaker.hold(need.provider, need.gid, error.retry_after)

    def _call_with_retries(
        self,
        api: Connector,
        need: _Need,
        token: str,
        calendars: list[str],
        start: datetime,
        end: datetime,
        deadline: float,
    ) -> dict[str, CalendarBusy] | None:
        provider = need.provider
        backoff = RETRY_BACKOFF_SECONDS
        for attempt in range(MAX_RETRIES + 1):
            started = time.monotonic()
            try:
                answer = api.free_busy(token, calendars, start, end, need.gid)
            except ProviderUnavailable as error:
                seconds = time.monotonic() - started
                metrics.provider_call(provider, "freebusy", error.code, seconds)
                if error.code == "refused":  # an answer (a 4xx), not an outage
                    self.breaker.success(provider)
                    return None
                wait_for = backoff * random.uniform(0.5, 1.5)  # noqa: S311 (jitter)
                if error.retry_after is not None:  # never sooner, a little later
                    wait_for = error.retry_after * random.uniform(1.0, 1.1)  # noqa: S311
                backoff *= 2
                last = attempt == MAX_RETRIES
                if last or time.monotonic() + wait_for >= deadline - 0.5:
                    self._failed(need, error)
                    return None
                self.breaker.failure(provider)
                time.sleep(wait_for)
                if self.breaker.is_open(provider):
                    return None
            except ConnectorError as error:
                seconds = time.monotonic() - started
                metrics.provider_call(provider, "freebusy", error.code, seconds)
                self.breaker.success(provider)  # the provider answered: it refused the token
                if isinstance(error, AccessRefused):
                    raise  # the grant's state, for the caller to settle
                return None
            else:
                metrics.provider_call(provider, "freebusy", "ok", time.monotonic() - started)
                self.breaker.success(provider)
                return answer
        return None  # pragma: no cover (the last attempt returns above)


def as_json(answer: FreeBusyAnswer) -> dict[str, Any]:
    return {
        "timeMin": rfc3339(answer.time_min),
        "timeMax": rfc3339(answer.time_max),
        "rooms": {
            room_id: {
                "busy": [i.as_json() for i in found.busy],
                "status": found.status,
                "stale": found.stale,
                "asOf": rfc3339(datetime.fromtimestamp(found.as_of, UTC)) if found.as_of else None,
            }
            for room_id, found in answer.rooms.items()
        },
    }

"""Filling the free/busy cache: each grant's misses, in as few provider calls as it allows.

Misses are grouped per host grant (a `GrantNeed`) into as few provider calls as the
provider allows (its batch size of calendars per call, its window limit of days), grants
are fetched concurrently under one deadline, and a grant's fetches are single-flight across
processes (a Redis lock; the others wait for the cache, or, for a background refresh, leave
it to the holder). A request waits for cold grants only up to its own, shorter deadline: the
fetch goes on to the full deadline and fills the cache for the next request. A fetch writes
only under the grant epoch it started with, so a revocation during the fetch leaves nothing
behind. A calendar whose answer failed gets no entry: its room reads "unknown" (or stale),
never free.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from connectors.base import Connector
from connectors.errors import AccessRefused, ConnectorError, ProviderUnavailable
from gateway.services.breaker import HELD, OPEN
from gateway.services.freebusy_calls import ProviderCalls
from gateway.services.freebusy_freshness import Freshness
from gateway.services.grants import GrantService, GrantUnavailable
from gateway.services.room_binding_views import Slot
from gateway.storage.freebusy_cache import Entry, FreeBusyCache, entry_key

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
# Grants fetched at once per process. A grant's calls wait on the provider, not the CPU, so
# a cap of N makes G cold grants take G/N provider round trips however fast the rest is:
# 64 made a 200-grant query four rounds of 100 ms. 256 covers the largest query's grants
# (1,000 rooms, at most one grant each, in practice far fewer) in one round. Still polite:
# each thread fetches one grant (single-flight per grant), so a provider sees at most one
# call at a time per user or mailbox (Graph's limit is 4 concurrent per mailbox, Google's
# quotas are per user and project per minute, not concurrency); a 429 still holds the
# grant back and opens the provider's breaker (freebusy_calls.py).
FETCH_THREADS = 256


@dataclass
class GrantNeed:
    """What one grant must fetch: its calendars behind rooms over a span of days."""

    uid: str
    gid: str
    provider: str
    active: bool = True  # False: the grant ended (its rooms need the host to reconnect)
    cold: bool = False  # True: some day has no entry within the stale bound (must wait)
    slots: set[Slot] = field(default_factory=set)  # (room id, calendar version)
    days: set[date] = field(default_factory=set)


def day_bounds(day: date) -> tuple[int, int]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return start, start + 86400


class GrantFetcher:
    def __init__(
        self,
        grants: GrantService,
        cache: FreeBusyCache,
        apis: Mapping[str, Connector],
        calls: ProviderCalls,
        calendars_of: Callable[[str, str, Sequence[Slot]], dict[Slot, str]],
        freshness: Freshness,
        deadline_seconds: float,
    ) -> None:
        self.grants = grants
        self.cache = cache
        self.apis = apis
        self.calls = calls
        self.calendars_of = calendars_of  # (uid, gid, slots) -> slot -> calendar id
        self.freshness = freshness
        self.deadline_seconds = deadline_seconds
        self._pool = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="freebusy")
        self._inflight: dict[tuple[str, str], threading.Event] = {}
        self._inflight_lock = threading.Lock()

    def fetch_all(self, needs: Mapping[str, GrantNeed], wait_seconds: float | None = None) -> None:
        """Fetch every grant's needs under the deadline; return when all are done or after
        `wait_seconds` (at most the deadline), leaving the rest to finish in the pool."""
        deadline = time.monotonic() + self.deadline_seconds
        # each fetch runs in the request's context copy, so its log records name the request
        futures = [
            self._pool.submit(contextvars.copy_context().run, self._fetch_grant, need, deadline)
            for need in needs.values()
        ]
        waiting = self.deadline_seconds if wait_seconds is None else wait_seconds
        wait(futures, timeout=max(0.0, min(waiting, deadline - time.monotonic())))

    def wait_idle(self, timeout: float) -> bool:
        """Block until no fetch of this process is under way (a cold request's fetch goes on
        after its answer: tests, a graceful stop); False when `timeout` passed first."""
        until = time.monotonic() + timeout
        while True:
            with self._inflight_lock:
                running = list(self._inflight.values())
            if not running:
                return True
            if not running[0].wait(timeout=max(0.0, until - time.monotonic())):
                return False

    def refresh(self, need: GrantNeed) -> bool:
        """A background refresh of one grant's expired days under the full deadline; a
        fetch another process holds the lock for is left to it (nothing waits here).
        True when the days are fresh afterwards."""
        self._fetch_grant(need, time.monotonic() + self.deadline_seconds, wait_for_others=False)
        return self._all_fresh(need)

    def _fetch_grant(self, need: GrantNeed, deadline: float, wait_for_others: bool = True) -> None:
        """One grant's misses, single-flight within this process and across processes."""
        slots = ",".join(sorted(f"{room_id}:{version}" for room_id, version in need.slots))
        key = (need.gid, slots + "|" + ",".join(sorted(map(str, need.days))))
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
            self._fetch_across_processes(need, deadline, wait_for_others)
        except Exception as error:  # a per-grant failure never fails the query: "unknown"
            # the type only: a traceback or a message could quote a provider's answer
            log.error("free/busy fetch failed: grant=%s (%s)", need.gid, type(error).__name__)
        finally:
            with self._inflight_lock:
                self._inflight.pop(key, None)
            running.set()

    def _fetch_across_processes(
        self, need: GrantNeed, deadline: float, wait_for_others: bool = True
    ) -> None:
        milliseconds = int(self.deadline_seconds * 1000) + 1000
        while time.monotonic() < deadline:
            # the lock, the entries (another fetch may have just finished) and the epoch
            # the fetch writes under, in one round trip
            holder, entries, epoch = self.cache.lock_and_read(
                need.uid, need.gid, milliseconds, self._entry_keys(need)
            )
            if holder is not None:
                try:
                    if not self._fresh(entries):
                        self._fetch(need, deadline, epoch)
                finally:
                    self.cache.unlock(need.uid, need.gid, holder)
                return
            if not wait_for_others:
                return  # another process is fetching this grant: it refreshes the cache
            while self.cache.locked(need.uid, need.gid) and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            if self._all_fresh(need):
                return

    def _entry_keys(self, need: GrantNeed) -> list[str]:
        return [
            entry_key(need.uid, need.gid, room_id, version, day.isoformat())
            for room_id, version in need.slots
            for day in need.days
        ]

    def _all_fresh(self, need: GrantNeed) -> bool:
        return self._fresh(self.cache.read(self._entry_keys(need)))

    def _fresh(self, entries: Sequence[Entry | None]) -> bool:
        now = time.time()
        return all(e is not None and self.freshness.is_fresh(e, now) for e in entries)

    def _fetch(self, need: GrantNeed, deadline: float, epoch: str | None) -> None:
        """Fetch and store under `epoch`, the grant's epoch read with the fetch's lock
        (none: the grant is gone, nothing is fetched)."""
        if not need.active:
            return  # an ended grant: its rooms need the host, not the provider
        if epoch is None:
            return
        api = self.apis.get(need.provider)
        if api is None or self.calls.breaker.admit(need.provider, need.gid) in (OPEN, HELD):
            return  # its rooms stay unknown (or stale within the bound)
        try:
            token = self.grants.access_token(need.uid, need.gid)
        except GrantUnavailable:
            return
        except ProviderUnavailable as error:  # the token endpoint is the provider too
            self.calls.failed(need.provider, need.gid, error)
            return
        except ConnectorError as error:
            log.info("free/busy fetch skipped: grant=%s refresh failed (%s)", need.gid, error.code)
            return
        calendars = self.calendars_of(need.uid, need.gid, sorted(need.slots))
        if not calendars:
            return
        days = sorted(need.days)
        found = self._ask(api, need, token, sorted(set(calendars.values())), days, deadline)
        if found is not None:
            self._store(need, epoch, calendars, days, *found)

    def _ask(
        self,
        api: Connector,
        need: GrantNeed,
        token: str,
        ids: list[str],
        days: list[date],
        deadline: float,
    ) -> tuple[dict[str, list[tuple[int, int]]], set[str]] | None:
        """Busy times per calendar id and the ids that failed, in windows and batches the
        provider allows; None when the grant ended on the way."""
        start = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
        end = datetime(days[-1].year, days[-1].month, days[-1].day, tzinfo=UTC) + timedelta(1)
        per_call = api.capabilities.batch_size
        results: dict[str, list[tuple[int, int]]] = {cid: [] for cid in ids}
        failed: set[str] = set()
        window_start = start
        while window_start < end:
            window_end = min(end, window_start + api.capabilities.window_limit)
            for chunk_at in range(0, len(ids), per_call):
                chunk = ids[chunk_at : chunk_at + per_call]
                call = (api, need.provider, need.gid)
                try:
                    answer = self.calls.call_with_retries(
                        *call, token, chunk, window_start, window_end, deadline
                    )
                except AccessRefused as refused:
                    fresh = self.calls.after_refusal(
                        need.provider, need.uid, need.gid, token, refused
                    )
                    if fresh is None:
                        return None  # the grant ended (its rooms answer needs_reconnect)
                    token = fresh
                    try:
                        answer = self.calls.call_with_retries(
                            *call, token, chunk, window_start, window_end, deadline
                        )
                    except AccessRefused as again:  # even a fresh token: the grant ends
                        log.info("free/busy refused again: grant=%s (%s)", need.gid, again.code)
                        self.grants.refused(need.uid, need.gid, again)
                        return None
                for cid in chunk:
                    got = answer.get(cid) if answer is not None else None
                    if got is None or got.error is not None:
                        failed.add(cid)
                        continue
                    results[cid] += [(int(s.timestamp()), int(e.timestamp())) for s, e in got.busy]
            window_start = window_end
        return results, failed

    def _store(
        self,
        need: GrantNeed,
        epoch: str,
        calendars: Mapping[Slot, str],
        days: list[date],
        results: Mapping[str, list[tuple[int, int]]],
        failed: set[str],
    ) -> None:
        """One entry per (room, calendar, day) whose calendar answered, under the fetch's
        epoch. A room's calendars of one grant that share an id are fetched once. A watched
        calendar's days are fresh longer (Freshness), and kept in Redis that much longer."""
        fetched_at = time.time()
        watched = self.freshness.watched_until(
            need.uid, need.gid, sorted(set(calendars.values())), fetched_at
        )
        stale = self.freshness.stale_seconds
        by_ttl: dict[int, dict[str, Entry]] = {}
        for (room_id, version), cid in calendars.items():
            if cid in failed:
                continue
            until = watched.get(cid)
            ttl = int((until or fetched_at + self.freshness.ttl_seconds) - fetched_at) + stale
            for day in days:
                low, high = day_bounds(day)
                busy = tuple(
                    (max(s, low), min(e, high)) for s, e in results[cid] if s < high and e > low
                )
                name = entry_key(need.uid, need.gid, room_id, version, day.isoformat())
                by_ttl.setdefault(ttl, {})[name] = Entry(busy, fetched_at, until)
        for ttl, entries in by_ttl.items():
            if not self.cache.write(need.uid, need.gid, epoch, entries, ttl):
                log.info("free/busy result dropped: grant=%s changed meanwhile", need.gid)
                return
        self.cache.bump_answers(settled=False)  # a fresher fill: nothing to wait for

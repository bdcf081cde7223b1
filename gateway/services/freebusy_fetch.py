"""Filling the free/busy cache: each grant's misses, in as few provider calls as it allows.

Misses are grouped per host grant (a `GrantNeed`) into as few provider calls as the
provider allows (its batch size of calendars per call, its window limit of days), grants
are fetched concurrently under one deadline, and a grant's fetches are single-flight across
processes (a Redis lock; the others wait for the cache, or, for a background refresh, leave
it to the holder). A request waits for cold grants only up to its own, shorter deadline: the
fetch goes on to the full deadline and fills the cache for the next request. A fetch writes
only under the grant epoch it started with, so a revocation during the fetch leaves nothing
behind. A calendar whose answer failed gets no entry: its room reads "unknown" (or stale),
never free. A query's Redis work is done for all its grants at once (freebusy_round.py).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date

from connectors.base import Connector
from connectors.errors import ConnectorError, ProviderUnavailable
from gateway.services.breaker import HELD, OPEN
from gateway.services.freebusy_calls import ProviderCalls
from gateway.services.freebusy_freshness import Freshness
from gateway.services.freebusy_round import DONE, Answered, ColdRounds, Ready, need_keys
from gateway.services.grants import GrantService, GrantUnavailable
from gateway.services.room_binding_views import Slot
from gateway.storage.freebusy_cache import Entry, FreeBusyCache
from gateway.storage.freebusy_rounds import Closing, RoundStore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
# Grants fetched at once per process: a cap of N makes G cold grants take G/N provider round
# trips (64 made a 200-grant query four of 100 ms); 256 covers the largest query's grants
# (1,000 rooms) in one. Still polite: one thread per grant (single flight), so a provider
# sees one call at a time per user or mailbox (Graph allows 4 per mailbox; Google's quotas
# are per minute); a 429 still holds the grant back and opens the provider's breaker.
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
        rounds: RoundStore | None = None,
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
        # a cold query's Redis work for all its grants at once (services/freebusy_round.py)
        self.rounds = ColdRounds(
            rounds or RoundStore(cache.client), cache, calls.breaker, freshness, grants
        )

    def fetch_all(self, needs: Mapping[str, GrantNeed], wait_seconds: float | None = None) -> None:
        """Fetch every grant's needs under the deadline; return when all are done or after
        `wait_seconds` (at most the deadline), leaving the rest to finish in the pool. The
        grants' Redis work is done for all of them at once (ColdRounds)."""
        deadline = time.monotonic() + self.deadline_seconds
        leading: list[tuple[GrantNeed, tuple[str, str], threading.Event]] = []
        following: list[tuple[GrantNeed, tuple[str, str], threading.Event]] = []
        for need in needs.values():
            key, running, leader = self._claim(need)
            (leading if leader else following).append((need, key, running))
        try:
            ready, release = self.rounds.open(
                [need for need, _, _ in leading], self._lock_ms(), self.apis.keys()
            )
        except Exception as error:  # Redis failed: each grant fails (or not) its own way
            log.error("free/busy round failed to open (%s)", type(error).__name__)
            ready, release = {}, lambda: None
        # each fetch runs in the request's context copy, so its log records name the request
        futures = [
            self._pool.submit(
                contextvars.copy_context().run,
                self._lead,
                need,
                key,
                running,
                deadline,
                ready.get(need.gid),
            )
            for need, key, running in leading
            if ready.get(need.gid) != DONE
        ]
        futures += [
            self._pool.submit(self._follow, running, deadline) for _, _, running in following
        ]
        try:
            release()  # the locks of grants with nothing to call, once the calls are out
        except Exception as error:  # they expire by themselves
            log.error("free/busy round failed to unlock (%s)", type(error).__name__)
        for need, key, running in leading:
            if ready.get(need.gid) == DONE:
                self._settle(key, running)
        waiting = self.deadline_seconds if wait_seconds is None else wait_seconds
        wait(futures, timeout=max(0.0, min(waiting, deadline - time.monotonic())))

    @staticmethod
    def _follow(running: threading.Event, deadline: float) -> None:
        running.wait(timeout=max(0.0, deadline - time.monotonic()))

    def _lock_ms(self) -> int:
        return int(self.deadline_seconds * 1000) + 1000

    def _claim(self, need: GrantNeed) -> tuple[tuple[str, str], threading.Event, bool]:
        """Single flight within this process: (key, its event, whether this one leads)."""
        slots = ",".join(sorted(f"{room_id}:{version}" for room_id, version in need.slots))
        key = (need.gid, slots + "|" + ",".join(sorted(map(str, need.days))))
        with self._inflight_lock:
            running = self._inflight.get(key)
            if running is None:
                running = self._inflight[key] = threading.Event()
                return key, running, True
        return key, running, False

    def _settle(self, key: tuple[str, str], running: threading.Event) -> None:
        with self._inflight_lock:
            self._inflight.pop(key, None)
        running.set()

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
        key, running, leader = self._claim(need)
        if not leader:
            self._follow(running, deadline)
            return
        self._lead(need, key, running, deadline, None, wait_for_others)

    def _lead(
        self,
        need: GrantNeed,
        key: tuple[str, str],
        running: threading.Event,
        deadline: float,
        ready: Ready | str | None,
        wait_for_others: bool = True,
    ) -> None:
        """The fetch this process leads: prepared by a round (Ready), or grant by grant."""
        try:
            if isinstance(ready, Ready):
                self._fetch_ready(need, ready, deadline)
            elif ready is None:
                self._fetch_across_processes(need, deadline, wait_for_others)
        except Exception as error:  # a per-grant failure never fails the query: "unknown"
            # the type only: a traceback or a message could quote a provider's answer
            log.error("free/busy fetch failed: grant=%s (%s)", need.gid, type(error).__name__)
        finally:
            self._settle(key, running)

    def _fetch_ready(self, need: GrantNeed, ready: Ready, deadline: float) -> None:
        """A grant a round locked and admitted: only its provider calls happen here; its
        writes, unlock and breaker success go with the round's others (ColdRounds.close)."""
        closing = Closing(need.uid, need.gid, ready.holder, ready.epoch)
        prompt: set[str] = set()
        answered = None
        try:
            answered = self._call(need, deadline, ready, prompt)
        finally:
            held = self.rounds.close(closing, answered, prompt)
        if not held:
            log.info("free/busy result dropped: grant=%s changed meanwhile", need.gid)

    def _fetch_across_processes(
        self, need: GrantNeed, deadline: float, wait_for_others: bool = True
    ) -> None:
        milliseconds = self._lock_ms()
        while time.monotonic() < deadline:
            # the lock, the entries (another fetch may have just finished) and the epoch
            # the fetch writes under, in one round trip
            holder, entries, epoch = self.cache.lock_and_read(
                need.uid, need.gid, milliseconds, need_keys(need)
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

    def _all_fresh(self, need: GrantNeed) -> bool:
        return self._fresh(self.cache.read(need_keys(need)))

    def _fresh(self, entries: Sequence[Entry | None]) -> bool:
        now = time.time()
        return all(e is not None and self.freshness.is_fresh(e, now) for e in entries)

    def _fetch(self, need: GrantNeed, deadline: float, epoch: str | None) -> None:
        """Fetch and store under `epoch`, the grant's epoch read with the fetch's lock
        (none: the grant is gone, nothing is fetched)."""
        if not need.active:
            return  # an ended grant: its rooms need the host, not the provider
        if epoch is None or need.provider not in self.apis:
            return
        if self.calls.breaker.admit(need.provider, need.gid) in (OPEN, HELD):
            return  # its rooms stay unknown (or stale within the bound)
        answered = self._call(need, deadline, None, None)
        by_ttl = self.rounds.entries(answered) if answered is not None else {}
        for ttl, entries in by_ttl.items():
            if not self.cache.write(need.uid, need.gid, epoch, entries, ttl):
                log.info("free/busy result dropped: grant=%s changed meanwhile", need.gid)
                return
        if by_ttl:
            self.cache.bump_answers(settled=False)  # a fresher fill: nothing to wait for

    def _call(
        self,
        need: GrantNeed,
        deadline: float,
        ready: Ready | None,
        prompt: set[str] | None,
    ) -> Answered | None:
        """The token, the calendars and the provider's answers (None: nothing to write).
        With `ready`, from what its round read."""
        api = self.apis[need.provider]
        try:
            if ready is None:
                token = self.grants.access_token(need.uid, need.gid)
            else:
                token = self.grants.tokens.token_of(ready.record)
        except GrantUnavailable:
            return None
        except ProviderUnavailable as error:  # the token endpoint is the provider too
            self.calls.failed(need.provider, need.gid, error)
            return None
        except ConnectorError as error:
            log.info("free/busy fetch skipped: grant=%s refresh failed (%s)", need.gid, error.code)
            return None
        slots = sorted(need.slots)
        if ready is not None and ready.bindings is not None:
            calendars = self.rounds.calendars(ready, slots)
        else:
            calendars = self.calendars_of(need.uid, need.gid, slots)
        if not calendars:
            return None
        days = sorted(need.days)
        ids = sorted(set(calendars.values()))
        asked = (need.provider, need.uid, need.gid)
        found = self.calls.busy_times(api, asked, token, ids, days, deadline, prompt)
        return None if found is None else Answered(need, calendars, days, *found)

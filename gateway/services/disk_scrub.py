"""Erased and revoked data leaves Redis's disk within a bound (GATEWAY_DISK_SCRUB_SECONDS).

Every erasure and revocation calls `request()` once its deletes have run; the request is
recorded in Redis (storage/disk_scrub.py) before the person is answered, and the receipt
says by when the data will be off disk. A thread in every gateway process polls the
record: when a request is pending and the last rewrite started at least a coalescing
window (a quarter of the bound) ago, it takes a short lock, rewrites the AOF on every
primary, waits until each rewrite has finished, and only then marks as done the requests
made before it started. Requests made while a rewrite runs, or within the window, are
never dropped: they cause exactly one more rewrite after it. A process SIGKILLed after
answering leaves its request in Redis, and another process's thread completes it (the
lock expires after a few seconds).

Worst case from a request to its data being off disk: the window, plus the rewrite under
way, plus one more rewrite, plus a poll; a gateway's AOF is small (a few KiB per user), so
a rewrite takes well under a second.

When Redis refuses the write of a request (the memory limit), the request is kept in this
process and recorded as soon as Redis accepts writes again. The same thread also runs the
other retries the gateway owes (`tasks`: revocations that could not finish locally).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.storage.disk_scrub import (
    RewriteFailed,
    ScrubState,
    ScrubStore,
)
from gateway.storage.errors import StorageError, StorageFull

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0
_running: weakref.WeakSet[DiskScrub] = weakref.WeakSet()


@dataclass(frozen=True)
class DiskStatus:
    """What a receipt or the account page says about one request."""

    scrub_by: float
    request: int | None  # None: not recorded in Redis yet (kept in this process)

    def as_receipt(self) -> dict[str, Any]:
        return {"scrub_by": round(self.scrub_by, 3), "request": self.request}


class DiskScrub:
    def __init__(self, store: ScrubStore, bound_seconds: float) -> None:
        self.store = store
        self.bound = float(bound_seconds)
        self.window = self.bound / 4
        self.poll = max(0.1, min(1.0, self.bound / 20))
        self.tasks: list[Callable[[], object]] = []
        self._local: list[float] = []  # requests Redis refused to record (memory limit)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: str | None = None
        self._late_warned = 0
        self._started_here = 0.0  # the last rewrite this process started

    # -- the request -----------------------------------------------------------------------
    def request(self) -> DiskStatus:
        """Record that deleted data must leave the disk; never raises for a refused write."""
        now = time.time()
        try:
            number: int | None = self.store.request(now)
        except StorageFull:
            with self._lock:
                self._local.append(now)
            log.warning("disk scrub request kept in this process: Redis is at its memory limit")
            number = None
        return DiskStatus(scrub_by=now + self.bound, request=number)

    def state(self) -> ScrubState:
        return self.store.state()

    def is_done(self, request: int | None, state: ScrubState | None = None) -> bool:
        if request is None:
            return False
        return (state or self.store.state()).done >= request

    def of_receipts(self, receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """For the account page: whether each receipt's deleted data has left the disk
        ("done", with when the covering rewrite finished) or by when it will."""
        state = self.store.state()
        rows = []
        for receipt in receipts:
            disk = receipt.get("disk")
            if not isinstance(disk, dict):
                continue  # a receipt from before the disk scrub
            done = self.is_done(disk.get("request"), state)
            rows.append(
                {
                    "receipt": receipt,
                    "done": done,
                    "scrub_by": float(disk.get("scrub_by") or 0),
                    "finished": state.finished if done else None,
                }
            )
        return rows

    # -- one pass of the thread ------------------------------------------------------------
    def run_once(self) -> bool:
        """Record kept requests, run the other retries, rewrite if due; True if it did."""
        self._record_kept()
        for task in self.tasks:
            task()
        state = self.store.state()
        with self._lock:
            kept_here = bool(self._local)  # Redis took no write: not even the request
        if not state.pending and not kept_here:
            return False
        now = time.time()
        if state.first and now > state.first + self.bound and state.requested > self._late_warned:
            self._late_warned = state.requested
            log.warning(
                "disk scrub is late: deleted data has been on disk for %.0f s (bound %.0f s)",
                now - state.first,
                self.bound,
            )
        if now < max(state.started or 0.0, self._started_here) + self.window:
            return False  # coalesce: the next rewrite covers everything asked meanwhile
        holder = secrets.token_urlsafe(9)
        try:
            locked = self.store.lock(holder, LEASE_SECONDS)
        except StorageFull:
            locked = None  # at the memory limit nothing can be marked, but a rewrite runs
        if locked is False:
            return False  # another process is rewriting
        try:
            covered = self.store.state().requested  # read before the rewrite starts
            started = self._started_here = time.time()
            with contextlib.suppress(StorageFull):
                self.store.mark_started(started)
            self.store.rewrite_and_wait(
                timeout=max(self.bound, 30.0),
                keep_alive=lambda: locked and self.store.renew(holder, LEASE_SECONDS),
            )
            finished = time.time()
            try:
                requested = self.store.complete(covered, started, finished)
            except StorageFull:
                requested = covered  # marked by the next rewrite, once Redis takes writes
        finally:
            if locked:
                self.store.unlock(holder)
        log.info(
            "disk scrub: AOF rewritten in %.2f s, %d request(s) covered, %d still pending",
            finished - started,
            covered - state.done,
            requested - covered,
        )
        return True

    def _record_kept(self) -> None:
        with self._lock:
            kept, self._local = self._local, []
        for index, when in enumerate(kept):
            try:
                self.store.request(when)
            except StorageFull:
                with self._lock:
                    self._local = kept[index:] + self._local
                return

    # -- the thread ------------------------------------------------------------------------
    def start(self, tasks: Sequence[Callable[[], object]] = ()) -> DiskScrub:
        """Run the scrub thread; each poll also runs `tasks` (work that waits for Redis to
        accept writes again, such as unfinished revocations)."""
        self.tasks.extend(t for t in tasks if t not in self.tasks)
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="gateway-disk-scrub")
            self._thread.daemon = True
            self._thread.start()
            _running.add(self)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        _running.discard(self)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.run_once()
                if self._failing:
                    log.info("disk scrub: Redis answers again")
                    self._failing = None
            except (StorageError, RewriteFailed) as error:
                kind = type(error).__name__
                if kind != self._failing:  # once per kind of failure, not once a poll
                    log.warning("disk scrub failed (%s); retrying every %.1f s", kind, self.poll)
                    self._failing = kind
            except Exception as error:  # the thread must outlive any one pass
                log.error("disk scrub pass failed: %s", type(error).__name__)

    # -- at start --------------------------------------------------------------------------
    def check_persistence(self) -> None:
        """One loud line when Redis's own persistence can bring revoked data back."""
        try:
            risks = self.store.persistence_risks()
        except StorageError as error:
            log.info("Redis persistence not checked at start (%s)", type(error).__name__)
            return
        if risks is None:
            log.info(
                "Redis refused CONFIG GET: appendonly and save not checked; they must be "
                "'yes' and '' (deploy/REDIS.md)"
            )
        elif risks:
            log.warning(
                "REDIS PERSISTENCE RISK: %s; revoked and erased data comes back from a "
                "snapshot or stays on disk: set appendonly yes and save '' (deploy/REDIS.md)",
                "; ".join(risks),
            )


def stop_all() -> None:
    """Stop every scrubber thread of this process (tests end each app's thread)."""
    for scrubber in list(_running):
        scrubber.stop()

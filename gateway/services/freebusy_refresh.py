"""Refreshing expired free/busy days off the request thread (issue 15 item 7).

A request whose days are all cached (fresh, or expired but within the stale bound) answers
at once from the cache, stale days marked stale, and hands the expired grants to this
refresher. Only a span with nothing cached waits for the provider, and only for the cold
deadline (services/freebusy_fetch.py).

Why a small executor in the process and not a job for the worker (gateway/worker.py): a
request must not depend on a worker being up to be correct, and the refresh needs what
this process already has (the connectors' pooled connections, the grant's access token in
its cache); a job would add a Redis round trip per request to enqueue and a pick-up delay,
and its only gain, surviving this process, is worth nothing: the next request anywhere asks
again. What keeps it safe either way: the fetch is single-flight per grant across processes
(the Redis lock), its write is fenced by the grant's epoch (a revocation during the refresh
leaves nothing), and a refresh that never happens cannot serve stale data past the stale
bound: the composer answers "unknown" for a day older than fresh + stale, and the cache entry
itself expires then.

Bounded: at most WORKERS refreshes run and at most PENDING_AT_MOST grants wait per process;
a grant already waiting or running is not queued twice, and one whose last refresh left its
days expired less than RETRY_SECONDS ago (a provider that is down or slower than the deadline,
a breaker that is open, another process holding the fetch) is not tried again yet.
A refresh that does not fit is dropped: the next request asks again.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from gateway.services.freebusy_fetch import GrantNeed

log = logging.getLogger(__name__)

WORKERS = 8
PENDING_AT_MOST = 256
RETRY_SECONDS = 1.0
REMEMBERED_AT_MOST = 10_000  # grants whose last refresh time is kept (then forgotten)


class Refresher:
    """Runs `refresh(need)` (True: the days are fresh now) then `done(need)` for grants, in
    the background, at most once at a time per grant in this process (and, through the
    fetcher's lock, across processes)."""

    def __init__(
        self,
        refresh: Callable[[GrantNeed], bool],
        done: Callable[[GrantNeed], object],
        workers: int = WORKERS,
    ) -> None:
        self._refresh = refresh
        self._done = done
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fb-refresh")
        self._pending: set[str] = set()
        self._ended_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def submit(self, need: GrantNeed) -> bool:
        """Queue a refresh of the grant's needs; False when it was not queued (already
        queued or running, tried a moment ago, or the queue is full)."""
        with self._lock:
            if need.gid in self._pending or len(self._pending) >= PENDING_AT_MOST:
                return False
            ended = self._ended_at.get(need.gid)
            if ended is not None and time.monotonic() - ended < RETRY_SECONDS:
                return False
            self._pending.add(need.gid)
        self._pool.submit(contextvars.copy_context().run, self._run, need)
        return True

    def _run(self, need: GrantNeed) -> None:
        refreshed = False
        try:
            refreshed = self._refresh(need)
            self._done(need)
        except Exception as error:  # a background failure is logged, never raised anywhere
            log.error("free/busy refresh failed: grant=%s (%s)", need.gid, type(error).__name__)
        finally:
            with self._lock:
                self._pending.discard(need.gid)
                if refreshed:
                    self._ended_at.pop(need.gid, None)
                else:
                    if len(self._ended_at) >= REMEMBERED_AT_MOST:
                        self._ended_at.clear()
                    self._ended_at[need.gid] = time.monotonic()
                self._idle.notify_all()

    def pending(self) -> int:
        """Refreshes queued or running in this process (for operators and tests)."""
        with self._lock:
            return len(self._pending)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no refresh is queued or running (tests, a graceful stop); False when
        `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout=timeout)

    def forget(self, gid: str) -> None:
        """A grant that ended: its next refresh (if it comes back) is not held back."""
        with self._lock:
            self._ended_at.pop(gid, None)

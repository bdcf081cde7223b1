"""Where a cold free/busy query's CPU goes, phase by phase (issue 17).

`python -m bench.freebusy_cold --phases` wraps the cold path's steps (the query's own, and
each grant fetch's: the cross-process lock, the token, the binding's calendars, the provider
call, the cache write, the breaker) in timers of the CPU time of the thread running them,
so that concurrent fetches are measured as they run, GIL waits excluded. Printed per round
as milliseconds in all and microseconds per call; a benchmark aid, never wired into the app.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any


class PhaseTimers:
    """CPU seconds and calls per phase, counted from every thread."""

    def __init__(self) -> None:
        self.spent: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time `owner.name` (an instance's method) as `label` from now on."""
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.spent[label] += time.thread_time() - started
                    self.calls[label] += 1

        setattr(owner, name, timed)

    def install(self, freebusy: Any) -> None:
        """Timers on a FreeBusyService's cold path (its fetcher, cache, breaker, APIs)."""
        fetcher = freebusy.fetcher
        steps = [
            (freebusy, "query", "query: all of it (its thread)"),
            (freebusy, "_visible", "query: rooms parsed"),
            (freebusy.cached_days, "read", "query: cached days read"),
            (freebusy.composer, "compose", "query: rooms composed"),
            (fetcher, "_lead" if hasattr(fetcher, "_lead") else "_fetch_grant", "grant: all of it"),
            (fetcher.cache, "lock_and_read", "grant: lock, entries, epoch"),
            (fetcher.calls.breaker, "admit", "grant: breaker admit"),
            (fetcher.grants, "access_token", "grant: access token"),
            (fetcher, "calendars_of", "grant: calendars of bindings"),
            (fetcher.calls.breaker, "answered", "grant: breaker answered"),
            (fetcher.freshness, "watched_until", "grant: cache write: watched"),
            (fetcher.cache, "unlock", "grant: unlock"),
        ]
        rounds = getattr(fetcher, "rounds", None)  # a cold round's pipelines (freebusy_round.py)
        if rounds is None:
            steps.append((fetcher, "_store", "grant: cache write (all)"))
        else:
            steps += [
                (rounds, "_entries", "round: entries, watched lookup (per commit)"),
                (rounds, "open", "query: round opened (locks, reads, admits)"),
                (rounds.store, "close", "round: closed (writes, unlocks; per pipeline)"),
                (rounds, "calendars", "grant: calendars of bindings"),
                (fetcher.grants.tokens, "token_of", "grant: access token"),
            ]
        steps += [(api, "free_busy", f"grant: {kind} call") for kind, api in fetcher.apis.items()]
        for owner, name, label in steps:
            self.wrap(owner, name, label)

    def lines(self) -> list[str]:
        """The phases so far, then reset."""
        with self._lock:
            spent, calls = dict(self.spent), dict(self.calls)
            self.spent.clear()
            self.calls.clear()
        return [
            f"  {label:34s} {spent[label] * 1000:8.1f} ms CPU  {calls[label]:5d} calls  "
            f"{spent[label] * 1e6 / calls[label]:7.0f} us/call"
            for label in sorted(spent)
        ]

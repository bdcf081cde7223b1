"""Where a cold free/busy query's CPU goes, phase by phase (issue 17).

`python -m bench.freebusy_cold --phases` wraps the cold path's steps (the query's own, and
each grant fetch's: the cross-process lock, the token, the binding's calendars, the provider
call, the cache write, the breaker) in timers of the CPU time of the thread running them,
so that concurrent fetches are measured as they run, GIL waits excluded. Printed per round
as milliseconds in all and microseconds per call, then the round's timeline (wall clock from
the query's start): when the round opened, when the first and last provider calls went out
and came back, when the rooms were composed and the answer was ready. A round's wall time is
the time before the last call goes out (under one GIL: the query's own work and every
call's sending), the provider's latency, then what comes after the last answer. A benchmark
aid, never wired into the app.
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
        self.moments: list[tuple[str, float, float]] = []  # label, wall start, wall end
        self._lock = threading.Lock()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time `owner.name` (an instance's method) as `label` from now on."""
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, began = time.thread_time(), time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.spent[label] += time.thread_time() - started
                    self.calls[label] += 1
                    self.moments.append((label, began, time.perf_counter()))

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
            spent, calls, moments = dict(self.spent), dict(self.calls), self.moments
            self.spent.clear()
            self.calls.clear()
            self.moments = []
        found = [
            f"  {label:34s} {spent[label] * 1000:8.1f} ms CPU  {calls[label]:5d} calls  "
            f"{spent[label] * 1e6 / calls[label]:7.0f} us/call"
            for label in sorted(spent)
        ]
        return found + timeline(moments)


NONE = (0.0, 0.0, 0.0, 0.0)


def timeline(moments: list[tuple[str, float, float]]) -> list[str]:
    """The last query's milestones, in ms from its start (none without a query)."""
    queries = [(b, e) for label, b, e in moments if label.startswith("query: all")]
    if not queries:
        return []
    zero, answered = queries[-1]
    opened = _span(moments, zero, lambda label: label.startswith("query: round opened"))
    calls = _span(moments, zero, lambda label: label.endswith(" call"))
    composed = _span(moments, zero, lambda label: label == "query: rooms composed")
    done = (answered - zero) * 1000
    if calls == NONE:
        return []
    return [
        f"  timeline (ms from the query's start): round opened {opened[0]:.1f}-{opened[3]:.1f};"
        f" calls out {calls[0]:.1f}..{calls[1]:.1f}, back {calls[2]:.1f}..{calls[3]:.1f};"
        f" composed {composed[0]:.1f}-{composed[3]:.1f}; answered {done:.1f}"
        f" ({done - calls[3]:.1f} after the last answer)"
    ]


def _span(
    moments: list[tuple[str, float, float]], zero: float, chosen: Callable[[str], bool]
) -> tuple[float, ...]:
    """(first start, last start, first end, last end) of the chosen calls since `zero`, in
    ms from it; NONE when there were none."""
    spans = [(b, e) for label, b, e in moments if chosen(label) and b >= zero]
    if not spans:
        return NONE
    starts, ends = sorted(b for b, _ in spans), sorted(e for _, e in spans)
    return tuple((t - zero) * 1000 for t in (starts[0], starts[-1], ends[0], ends[-1]))

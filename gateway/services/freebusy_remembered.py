"""Recent free/busy answers a worker serves again while nothing has changed.

An answer is kept when it is made of cached days (and restricted rooms): anything unknown
is asked again next time, so a provider that recovers is seen. An answer with stale days
is kept only `REMEMBER_STALE_SECONDS` (the refresher does not try a grant again sooner, so
asking again earlier only repeats the reads: a stale answer cost some 2.4x a warm one,
README "Benchmarks"), and the refresh that makes its days fresh bumps the generation,
which ends it at once, as it ends any remembered answer. A kept answer
is checked against the answers' generation (storage/answers.py: what bumps it, and the lease
a worker holds on it); `REMEMBER_AT_MOST_SECONDS` only limits what a missed bump could cost.
Each answer names the grants whose busy times it holds, so that an ended grant's answers go
with it (`forget_grant`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass

from gateway.services.freebusy_answer import FreeBusyAnswer
from gateway.services.freebusy_refresh import RETRY_SECONDS

REMEMBER_AT_MOST_SECONDS = 5.0
REMEMBER_STALE_SECONDS = RETRY_SECONDS  # an answer with stale days: until a refresh may run
REMEMBERED_ANSWERS = 1_000  # per worker: a 50-room answer with its JSON is some 30 KB

Hosts = tuple[tuple[str, str], ...]  # (room id, host uid) of the rooms an answer shows


@dataclass(frozen=True)
class Remembered:
    """An answer a worker may serve again while the generation is unchanged and every
    cached day in it is still fresh."""

    generation: str
    valid_until: float
    answer: FreeBusyAnswer
    hosts: Hosts
    grants: frozenset[str] = frozenset()  # whose busy times it holds (forget_grant)


class RememberedAnswers:
    """The worker's remembered answers, keyed by the query (caller, rooms, range, granularity)."""

    def __init__(self) -> None:
        self.stale_for = REMEMBER_STALE_SECONDS  # adjustable by tests
        self._answers: dict[Hashable, Remembered] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, generation: str) -> Remembered | None:
        """The answer remembered for this query, if it is of this generation and still valid."""
        found = self._answers.get(key)
        if found is None or found.generation != generation or time.time() >= found.valid_until:
            return None
        return found

    def keep(
        self,
        key: Hashable,
        generation: str,
        answer: FreeBusyAnswer,
        hosts: Hosts,
        grants: frozenset[str],
        ttl_seconds: int,
        stale_seconds: int = 0,
    ) -> None:
        """Remember an answer made only of cached days, until its oldest day expires (one
        with stale days: for a moment, and never past the stale bound)."""
        found = answer.rooms.values()
        if any(r.status not in ("ok", "restricted") for r in found):
            return
        fetched = [r.as_of for r in found if r.as_of is not None]
        oldest = min(fetched, default=time.time())
        if any(r.stale for r in found):
            valid_until = min(oldest + ttl_seconds + stale_seconds, time.time() + self.stale_for)
        else:
            valid_until = min(oldest + ttl_seconds, time.time() + REMEMBER_AT_MOST_SECONDS)
        if len(self._answers) >= REMEMBERED_ANSWERS:
            self._answers.clear()
        self._answers[key] = Remembered(generation, valid_until, answer, hosts, grants)

    def holding(self, gid: str) -> list[Remembered]:
        """The remembered answers that hold the grant's busy times."""
        return [a for a in self._answers.values() if gid in a.grants]

    def keys(self) -> list[Hashable]:
        return list(self._answers)

    def forget_grant(self, gid: str) -> None:
        with self._lock:
            self._answers = {k: v for k, v in self._answers.items() if gid not in v.grants}

    def clear(self) -> None:
        """Forget every answer (as when their time runs out)."""
        self._answers.clear()

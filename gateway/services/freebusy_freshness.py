"""How long a cached free/busy day is fresh, and how long it may still be served stale.

Shared by the service, its fetcher and the composer; a watched calendar's days stay fresh
longer (GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS), never past its channel's end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.storage.freebusy_cache import Entry

# (uid, gid, calendar ids) -> calendar id -> until when a change there is told at once
# (a live channel's end; absent: polled)
Lasting = Callable[[str, str, Sequence[str]], Mapping[str, float]]
Asked = tuple[str, str, Sequence[str]]  # (uid, gid, calendar ids)


class LastingSource(Protocol):
    """Who knows which calendars are watched: one grant's, or a cold round's at once."""

    def lasting(self, uid: str, gid: str, calendar_ids: Sequence[str]) -> dict[str, float]: ...

    def lasting_many(self, asks: Sequence[Asked]) -> list[dict[str, float]]: ...


@dataclass
class Freshness:
    """How long a cached day is fresh, and how long past that it may still be served
    (marked stale); shared by the service and its fetcher, and adjustable by tests.

    A day of a watched calendar (`lasting` says until when its changes are told at once)
    is fresh for `watched_ttl_seconds`, but never past its channel's end: a channel that
    lapses unrenewed leaves its days fresh no longer than that, and one that is lost
    earlier drops them (services/watches.py)."""

    ttl_seconds: int
    stale_seconds: int
    watched_ttl_seconds: int = 0
    lasting: Lasting | None = None

    def fresh_until(self, entry: Entry) -> float:
        if entry.fresh_until is not None:
            return entry.fresh_until
        return entry.fetched_at + self.ttl_seconds

    def is_fresh(self, entry: Entry, now: float) -> bool:
        return now <= self.fresh_until(entry)

    def servable(self, entry: Entry, now: float) -> bool:
        """Still within the stale bound past its freshness."""
        return now <= self.fresh_until(entry) + self.stale_seconds

    def watched_until(
        self, uid: str, gid: str, ids: Sequence[str], fetched_at: float
    ) -> dict[str, float]:
        """calendar id -> until when its days fetched now are fresh, for the watched ones
        whose channel outlives the polled TTL (the others keep the polled TTL)."""
        if self.lasting is None or self.watched_ttl_seconds <= self.ttl_seconds:
            return {}
        return self.watched_from(self.lasting(uid, gid, ids), fetched_at)

    def lasting_many(self, asks: Sequence[Asked]) -> list[Mapping[str, float]]:
        """`lasting` of each (uid, gid, calendar ids) of a cold round, asked at once where
        the source can (`many`), for `watched_from`."""
        if not asks or self.lasting is None or self.watched_ttl_seconds <= self.ttl_seconds:
            return [{} for _ in asks]
        many = getattr(self.lasting, "many", None)
        if many is not None:
            return list(many(asks))
        return [self.lasting(*ask) for ask in asks]

    def watched_from(self, lasting: Mapping[str, float], fetched_at: float) -> dict[str, float]:
        """`watched_until` from what `lasting` said."""
        polled = fetched_at + self.ttl_seconds
        found = {}
        for cid, until in lasting.items():
            fresh = min(fetched_at + self.watched_ttl_seconds, until)
            if fresh > polled:
                found[cid] = fresh
        return found

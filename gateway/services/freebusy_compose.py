"""From cached days to what is published: a room's busy time, clipped to its bookable hours.

Memoized per worker: the warm path reads rooms every time (for freshness) but parses each
stored version once, computes a room's bookable windows once per (version, range), and
publishes a room's clipped busy times once per set of cached days. Every memo is keyed by
data, never by a token; published busy times carry their grant ids so that `forget_grant`
finds them when a grant ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.services.freebusy_answer import RoomAvailability
from gateway.services.freebusy_fetch import Freshness
from gateway.services.intervals import Interval, bookable_windows, publishable
from gateway.services.room_hours import exception_days
from gateway.services.room_model import Room, read_room
from gateway.storage.freebusy_cache import Entry

KEPT_PARSED = 10_000
KEPT_WINDOWS = 10_000
KEPT_PUBLISHED = 20_000


class Composer:
    def __init__(self, freshness: Freshness) -> None:
        self.freshness = freshness
        self._parsed: dict[str, Room] = {}
        self._windows: dict[tuple[str, float, datetime, datetime], list[Interval]] = {}
        self._published: dict[tuple[Any, ...], tuple[Interval, ...]] = {}

    def parse(self, document: str) -> Room | None:
        room = self._parsed.get(document)
        if room is None:
            room = read_room(document)
            if room is None:
                return None
            if len(self._parsed) > KEPT_PARSED:
                self._parsed.clear()
            self._parsed[document] = room
        return room

    def bookable(self, room: Room, start: datetime, end: datetime) -> list[Interval]:
        """The room's bookable windows in [start, end) (weekly hours and date exceptions)."""
        key = (room.id, room.updated, start, end)
        windows = self._windows.get(key)
        if windows is None:
            if len(self._windows) > KEPT_WINDOWS:
                self._windows.clear()
            windows = bookable_windows(
                room.hours, ZoneInfo(room.time_zone), start, end, exception_days(room.exceptions)
            )
            self._windows[key] = windows
        return windows

    def forget_grant(self, gid: str) -> None:
        self._published = {k: v for k, v in self._published.items() if gid not in k[0]}

    def compose(
        self,
        gids: tuple[str, ...],
        room: Room,
        day_entries: list[Entry | None],
        now: float,
        time_min: datetime,
        time_max: datetime,
        granularity: int,
    ) -> RoomAvailability:
        """The room's answer from the cached days of all its calendars (their busy times'
        union): unknown when any calendar's day is missing or too old, never free."""
        if any(e is None for e in day_entries):
            return RoomAvailability(room.id, "unknown")
        present = [e for e in day_entries if e is not None]
        oldest = min(e.fetched_at for e in present)
        if not all(self.freshness.servable(e, now) for e in present):
            return RoomAvailability(room.id, "unknown")
        stale = not all(self.freshness.is_fresh(e, now) for e in present)
        key = (
            gids,  # so that forget_grant finds what came from those grants
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
            windows = self.bookable(room, time_min, time_max)
            published = tuple(publishable(busy, windows, granularity))
            if len(self._published) > KEPT_PUBLISHED:
                self._published.clear()
            self._published[key] = published
        return RoomAvailability(room.id, "ok", published, stale=stale, as_of=oldest)

"""From cached days to what is published: a room's busy time, clipped to its bookable hours.

Memoized per worker: the warm path reads rooms every time (for freshness) but parses each
stored version once, computes bookable windows once per (time zone, hours, exceptions,
range), shared by the rooms that have them alike (a building's rooms mostly do: a cold
query over a new range, or over new rooms, computed them room by room, some 25 us each),
and publishes a room's clipped busy times once per set of cached days. Every memo is keyed by
data, never by a token; published busy times carry their grant ids so that `forget_grant`
finds them when a grant ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.services.freebusy_answer import RoomAvailability
from gateway.services.freebusy_freshness import Freshness
from gateway.services.intervals import Interval, bookable_windows, clip, merge, publishable
from gateway.services.room_hours import exception_days
from gateway.services.room_model import Room, read_room
from gateway.services.room_status import OK, UNKNOWN
from gateway.storage.freebusy_cache import Entry

KEPT_PARSED = 10_000
KEPT_WINDOWS = 10_000
KEPT_PUBLISHED = 20_000


class Composer:
    def __init__(self, freshness: Freshness) -> None:
        self.freshness = freshness
        self._parsed: dict[str, Room] = {}
        self._windows: dict[tuple[Any, ...], list[Interval]] = {}  # by opening hours and range
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
        key = (room.time_zone, opening_hours(room), start, end)
        windows = self._windows.get(key)
        if windows is None:
            if len(self._windows) > KEPT_WINDOWS:
                self._windows.clear()
            windows = bookable_windows(
                room.hours, ZoneInfo(room.time_zone), start, end, exception_days(room.exceptions)
            )
            self._windows[key] = windows
        return windows  # shared: never changed in place

    def forget_grant(self, gid: str) -> None:
        self._published = {k: v for k, v in self._published.items() if gid not in k[0]}

    def compose(
        self,
        gids: tuple[str, ...],
        room: Room,
        days: Sequence[date],
        day_entries: Sequence[Sequence[Entry | None]],
        now: float,
        time_min: datetime,
        time_max: datetime,
        granularity: int,
    ) -> RoomAvailability:
        """The room's answer from the cached days of all its calendars (`day_entries[i]`:
        each calendar's entry for `days[i]`), their busy times' union. A day is known when
        every calendar has an entry within the stale bound; the room is `unknown` when any
        day is not, and then its answer lists those days as `unknown` spans and publishes
        busy time only inside the known ones (never free, never one calendar's alone)."""
        known: list[Entry] = []
        unknown: list[date] = []
        for day, entries in zip(days, day_entries, strict=True):
            if all(e is not None and self.freshness.servable(e, now) for e in entries):
                known.extend(e for e in entries if e is not None)
            else:
                unknown.append(day)
        if len(unknown) == len(days):
            return RoomAvailability(room.id, UNKNOWN, unknown=(Interval(time_min, time_max),))
        oldest = min(e.fetched_at for e in known)
        key = (
            gids,  # so that forget_grant finds what came from those grants
            room.id,
            room.updated,
            time_min,
            time_max,
            granularity,
            tuple(unknown),
            tuple((e.busy, e.fetched_at) for e in known),
        )
        published = self._published.get(key)
        if published is None:
            busy = [
                Interval(datetime.fromtimestamp(s, UTC), datetime.fromtimestamp(e, UTC))
                for entry in known
                for s, e in entry.busy
            ]
            windows = self.bookable(room, time_min, time_max)
            if unknown:
                windows = clip(windows, known_spans(days, unknown, time_min, time_max))
            published = tuple(publishable(busy, windows, granularity))
            if len(self._published) > KEPT_PUBLISHED:
                self._published.clear()
            self._published[key] = published
        stale = not all(self.freshness.is_fresh(e, now) for e in known)
        if not unknown:
            return RoomAvailability(room.id, OK, published, stale=stale, as_of=oldest)
        spans = tuple(merge(day_span(d, time_min, time_max) for d in unknown))
        return RoomAvailability(room.id, UNKNOWN, published, stale, oldest, unknown=spans)


def opening_hours(room: Room) -> tuple[Any, ...]:
    """The room's weekly hours and date exceptions as a key: what its windows depend on
    besides its time zone and the range."""
    weekly = tuple((day, tuple(map(tuple, ranges))) for day, ranges in room.hours.items())
    if not room.exceptions:
        return weekly
    dated = tuple((e.date, tuple(map(tuple, e.hours))) for e in room.exceptions)
    return weekly, dated


def day_span(day: date, time_min: datetime, time_max: datetime) -> Interval:
    """The part of [time_min, time_max) that falls on this UTC day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Interval(max(start, time_min), min(start + timedelta(days=1), time_max))


def known_spans(
    days: Sequence[date], unknown: Sequence[date], time_min: datetime, time_max: datetime
) -> list[Interval]:
    """The parts of [time_min, time_max) on the days every calendar was read."""
    return merge(day_span(d, time_min, time_max) for d in days if d not in unknown)

"""Time arithmetic for what is published: merge, clip to bookable hours, round, find gaps.

Everything is in aware UTC datetimes; bookable hours are local wall-clock times of the
room's time zone, turned into UTC per day with zoneinfo so that days of 23 or 25 hours
(daylight saving changes) come out right. Published busy time is the provider's busy time
merged, clipped to the bookable windows (nothing of the host's day outside them leaks), and
optionally rounded outward to a grid (start and end times reveal nothing finer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

# The times a caller may ask about. Python's datetimes end at years 1 and 9999, and the
# arithmetic here steps a day beyond the asked window, converts to local zones and rounds on
# the epoch grid; inside this range none of it can overflow, so a far-off time is a 400.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
SUPPORTED_RANGE = f"from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)"

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("intervals are timezone-aware")
        if self.end < self.start:
            raise ValueError("an interval ends after it starts")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def as_json(self) -> dict[str, str]:
        return self._json

    @cached_property
    def _json(self) -> dict[str, str]:
        # Published intervals are memoized across requests (services/freebusy.py), so each
        # is formatted once, not on every warm request: formatting was ~a third of its time.
        return {"start": rfc3339(self.start), "end": rfc3339(self.end)}


def supported(moment: datetime) -> bool:
    """Whether an aware time lies in the range the arithmetic here handles (see EARLIEST)."""
    return EARLIEST <= moment < LATEST


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined; empty ones dropped."""
    merged: list[Interval] = []
    for item in sorted(i for i in intervals if i.end > i.start):
        if merged and item.start <= merged[-1].end:
            if item.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, item.end)
        else:
            merged.append(item)
    return merged


def _local(day: date, clock: str, zone: ZoneInfo) -> datetime:
    if clock == "24:00":
        return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
    hours, minutes = (int(part) for part in clock.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=zone)


def bookable_windows(
    hours: Mapping[Any, Sequence[Sequence[str]]],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    exceptions: Mapping[date, Sequence[Sequence[str]]] | None = None,
) -> list[Interval]:
    """The room's bookable windows overlapping [start, end), in UTC.

    `hours` maps "monday".."sunday" to [["08:00", "18:00"], ...] local times ("24:00" = midnight at
    the end of the day). A local time that does not exist (the hour skipped in spring) is
    read as the same wall time on the old offset, i.e. shifted forward by the gap. A local
    date in `exceptions` has those ranges instead of its weekday's (none: closed that day).
    """
    exceptions = exceptions or {}
    windows = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        ranges = exceptions[day] if day in exceptions else hours.get(WEEKDAYS[day.weekday()], ())
        for opens, closes in ranges:
            window = Interval(
                _local(day, opens, zone).astimezone(UTC), _local(day, closes, zone).astimezone(UTC)
            )
            windows.append(window)
        day += timedelta(days=1)
    return clip(merge(windows), [Interval(start, end)])


def clip(intervals: Iterable[Interval], windows: Sequence[Interval]) -> list[Interval]:
    """The parts of `intervals` that fall inside `windows` (both merged first)."""
    out = []
    merged_windows = merge(windows)
    for item in merge(intervals):
        for window in merged_windows:
            if window.start >= item.end:
                break
            start, finish = max(item.start, window.start), min(item.end, window.end)
            if finish > start:
                out.append(Interval(start, finish))
    return out


def round_outward(intervals: Iterable[Interval], minutes: int) -> list[Interval]:
    """Each interval widened to the enclosing multiples of `minutes` (UTC epoch grid)."""
    if minutes <= 0:
        return merge(intervals)
    step = minutes * 60
    rounded = []
    for item in intervals:
        start = int(item.start.timestamp()) // step * step
        end = -(-int(_ceil_seconds(item.end)) // step) * step
        rounded.append(
            Interval(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        )
    return merge(rounded)


def _ceil_seconds(moment: datetime) -> float:
    stamp = moment.timestamp()
    return stamp if stamp == int(stamp) else int(stamp) + 1


def publishable(
    busy: Iterable[Interval], windows: Sequence[Interval], granularity_minutes: int = 0
) -> list[Interval]:
    """What others may see: busy time inside bookable windows, rounded, clipped again."""
    inside = clip(busy, windows)
    if granularity_minutes:
        inside = clip(round_outward(inside, granularity_minutes), windows)
    return inside


def free_slots(
    busy: Iterable[Interval], windows: Sequence[Interval], duration: timedelta
) -> list[Interval]:
    """Gaps inside the windows that are at least `duration` long."""
    slots = []
    taken = merge(busy)
    for window in merge(windows):
        cursor = window.start
        for item in taken:
            if item.end <= cursor or item.start >= window.end:
                continue
            if item.start - cursor >= duration:
                slots.append(Interval(cursor, item.start))
            cursor = max(cursor, item.end)
        if window.end - cursor >= duration:
            slots.append(Interval(cursor, window.end))
    return slots

"""What the room finder pages draw: per room and local day, the bookable hours, the busy
blocks and the free slots, as minutes from the day's start in the zone the viewer chose.

Days are local days of that zone, so one can be 23 or 25 hours long (daylight saving); the
bar of such a day is that many minutes wide, and every position is measured in real
minutes from its midnight, so blocks stay to scale. Busy time is what free/busy publishes
(clipped to bookable hours); a room whose calendar cannot be read has no busy blocks and
no free slots on the days it could not be read, and says so: silence is never shown as free.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.services.callers import Caller
from gateway.services.freebusy import FreeBusyService
from gateway.services.freebusy_answer import MAX_ROOMS, RoomAvailability
from gateway.services.intervals import Interval, clip, free_slots, supported
from gateway.services.room_hours import exception_days
from gateway.services.room_model import Room
from gateway.services.room_status import OK, UNKNOWN, label

SHORTEST_SLOT = timedelta(minutes=15)
TICK_HOURS = (0, 6, 12, 18)


@dataclass(frozen=True)
class Segment:
    """A piece of a day's bar: [start, end) in minutes from the local midnight."""

    start: float
    end: float
    label: str

    @property
    def width(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class DayPlan:
    day: date
    minutes: float  # the day's length: 1380, 1440 or 1500 minutes
    status: str
    stale: bool
    bookable: tuple[Segment, ...]
    busy: tuple[Segment, ...]
    free: tuple[Segment, ...]
    ticks: tuple[tuple[float, str], ...]
    exception: bool  # the room's hours that day come from a date exception

    @property
    def known(self) -> bool:
        return self.status == "ok"

    @property
    def summary(self) -> str:
        """One sentence for screen readers, next to the drawing."""
        opened = ", ".join(s.label for s in self.bookable) or "none"
        parts = [f"{self.day:%A %d %B}: bookable {opened}"]
        if not self.known:
            parts.append(label(self.status))  # the words every page uses
        elif self.bookable:
            parts.append("busy " + (", ".join(s.label for s in self.busy) or "never"))
        return "; ".join(parts)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day's start and end, in UTC."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def in_range(day: date) -> bool:
    """Whether a day, in any zone, lies inside the times the gateway handles."""
    return supported(datetime.combine(day - timedelta(days=1), time(0), tzinfo=UTC)) and supported(
        datetime.combine(day + timedelta(days=8), time(0), tzinfo=UTC)
    )


def _clock(moment: datetime, zone: ZoneInfo, day_end: datetime) -> str:
    return "24:00" if moment >= day_end else moment.astimezone(zone).strftime("%H:%M")


def _segments(
    items: Iterable[Interval], start: datetime, end: datetime, zone: ZoneInfo
) -> tuple[Segment, ...]:
    return tuple(
        Segment(
            (i.start - start).total_seconds() / 60,
            (i.end - start).total_seconds() / 60,
            f"{_clock(i.start, zone, end)}\u2013{_clock(i.end, zone, end)}",
        )
        for i in items
    )


def _ticks(day: date, zone: ZoneInfo, start: datetime) -> tuple[tuple[float, str], ...]:
    found = []
    for hour in TICK_HOURS:
        moment = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
        found.append(((moment - start).total_seconds() / 60, f"{hour:02d}:00"))
    return tuple(found)


class RoomFinder:
    def __init__(self, freebusy: FreeBusyService) -> None:
        self.freebusy = freebusy

    def days(
        self, caller: Caller, room: Room, first: date, count: int, zone: ZoneInfo
    ) -> list[DayPlan]:
        """`count` local days of `zone` from `first` for one room (one free/busy query)."""
        return self.plans(caller, [room], first, count, lambda _room: zone)[room.id]

    def plans(
        self,
        caller: Caller,
        rooms: list[Room],
        first: date,
        count: int,
        zone_of: Callable[[Room], ZoneInfo],
    ) -> dict[str, list[DayPlan]]:
        """room id -> its days; rooms shown in one zone share a query (at most 250 each)."""
        by_zone: dict[str, list[Room]] = defaultdict(list)
        for room in rooms:
            by_zone[zone_of(room).key].append(room)
        plans: dict[str, list[DayPlan]] = {}
        for key, members in by_zone.items():
            zone = ZoneInfo(key)
            start = day_bounds(first, zone)[0]
            end = day_bounds(first + timedelta(days=count - 1), zone)[1]
            for at in range(0, len(members), MAX_ROOMS):
                chunk = members[at : at + MAX_ROOMS]
                answer = self.freebusy.query(caller, [r.id for r in chunk], start, end)
                for room in chunk:
                    found = answer.rooms[room.id]
                    plans[room.id] = [
                        self._day(room, first + timedelta(days=n), zone, found)
                        for n in range(count)
                    ]
        return plans

    def _day(self, room: Room, day: date, zone: ZoneInfo, found: RoomAvailability) -> DayPlan:
        start, end = day_bounds(day, zone)
        windows = self.freebusy.bookable(room, start, end)
        status = found.status
        if status == UNKNOWN and not clip(found.unknown, [Interval(start, end)]):
            status = OK  # every calendar was read for this day: the unknown part is elsewhere
        busy: list[Interval] = []
        free: list[Interval] = []
        if status == OK:
            busy = clip(found.busy, [Interval(start, end)])
            free = free_slots(busy, windows, SHORTEST_SLOT)
        room_zone = ZoneInfo(room.time_zone)
        last = end - timedelta(seconds=1)
        # said only where the shown day is the room's own local day (its zone, or one that
        # keeps the same midnight then): elsewhere a shown day holds parts of two room days
        room_days = {start.astimezone(room_zone).date(), last.astimezone(room_zone).date()}
        aligned = room_days == {day}
        return DayPlan(
            day=day,
            minutes=(end - start).total_seconds() / 60,
            status=status,
            stale=found.stale,
            bookable=_segments(windows, start, end, zone),
            busy=_segments(busy, start, end, zone),
            free=_segments(free, start, end, zone),
            ticks=_ticks(day, zone, start),
            exception=aligned and day in exception_days(room.exceptions),
        )

"""Which rooms are free for a whole span: `POST /v1/rooms/search` and the room finder.

A room is offered only when it is bookable for the whole span (its weekly hours and date
exceptions cover it without a gap) and its calendar was read (`ok`) with no busy time in
it. Every other state (`unknown`, `needs_reconnect`, `unbound`, `restricted`, anything a
later version adds) is never free: a room whose calendar cannot be read must not be booked
on the strength of silence. Rooms closed for part of the span are settled from the registry
alone, so they cost no provider call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.services.callers import Caller
from gateway.services.freebusy import FreeBusyService
from gateway.services.freebusy_answer import MAX_DAYS, MAX_ROOMS, QueryRefused
from gateway.services.intervals import Interval
from gateway.services.room_hours import has_equipment
from gateway.services.room_model import Room

FREE, BUSY, CLOSED = "free", "busy", "closed"


@dataclass(frozen=True)
class RoomFilter:
    """What a room must have: at least `capacity` seats, `location` in its location (case
    aside), and every item of `equipment`. Empty parts match every room."""

    capacity: int | None = None
    location: str = ""
    equipment: tuple[str, ...] = ()

    def matches(self, room: Room) -> bool:
        if self.capacity is not None and (room.capacity or 0) < self.capacity:
            return False
        if self.location.strip() and self.location.strip().casefold() not in (
            room.location.casefold()
        ):
            return False
        return has_equipment(room.equipment, self.equipment)


@dataclass(frozen=True)
class SpanState:
    """A room over a span: free, busy, closed (not bookable all of it), or the free/busy
    status that kept it from being read (unknown, needs_reconnect, unbound, restricted)."""

    room: Room
    state: str
    stale: bool = False
    as_of: float | None = None

    @property
    def free(self) -> bool:
        return self.state == FREE


def covers(windows: Sequence[Interval], start: datetime, end: datetime) -> bool:
    """Whether the (merged) windows hold [start, end) without a gap."""
    return any(w.start <= start and w.end >= end for w in windows)


def check_span(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise QueryRefused("times need a time zone offset (RFC 3339)")
    if end <= start:
        raise QueryRefused("timeMax must be after timeMin")
    if end - start > timedelta(days=MAX_DAYS):
        raise QueryRefused(f"at most {MAX_DAYS} days per call")


class RoomSearch:
    def __init__(self, freebusy: FreeBusyService) -> None:
        self.freebusy = freebusy

    def states(
        self, caller: Caller, rooms: Iterable[Room], start: datetime, end: datetime
    ) -> list[SpanState]:
        """Each room's state over [start, end), in the order given; the rooms must be ones
        the caller may see (free/busy refuses the others)."""
        check_span(start, end)
        rooms = list(rooms)
        open_all_span = [
            r for r in rooms if covers(self.freebusy.bookable(r, start, end), start, end)
        ]
        found: dict[str, SpanState] = {}
        for at in range(0, len(open_all_span), MAX_ROOMS):
            chunk = open_all_span[at : at + MAX_ROOMS]
            answer = self.freebusy.query(caller, [r.id for r in chunk], start, end)
            for room in chunk:
                got = answer.rooms[room.id]
                state = (BUSY if got.busy else FREE) if got.status == "ok" else got.status
                found[room.id] = SpanState(room, state, got.stale, got.as_of)
        return [found.get(r.id) or SpanState(r, CLOSED) for r in rooms]

    def search(
        self, caller: Caller, start: datetime, end: datetime, wanted: RoomFilter
    ) -> list[SpanState]:
        """The rooms the caller may see that match `wanted` and are free all of [start, end),
        by id."""
        check_span(start, end)
        rooms = sorted(
            (r for r in self.freebusy.visible_rooms(caller) if wanted.matches(r)),
            key=lambda r: r.id,
        )
        return [s for s in self.states(caller, rooms, start, end) if s.free]

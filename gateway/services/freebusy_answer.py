"""What a free/busy query may ask and what it answers: limits, refusals, the answer's shape.

Kept apart from the service (services/freebusy.py) so that the API, the room finder and the
room search can name the limits and read an answer without the fetching machinery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

from gateway.services.intervals import Interval, rfc3339
from gateway.services.room_status import UNKNOWN

MAX_ROOMS = 250
MAX_DAYS = 31
GRANULARITIES = (0, 5, 10, 15, 30, 60)


class FreeBusyError(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class RoomNotVisible(FreeBusyError):
    def __init__(self, room_id: str) -> None:
        super().__init__("room_not_found", f"no such room: {room_id}", 404)


class QueryRefused(FreeBusyError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_request", message, 400)


@dataclass(frozen=True)
class RoomAvailability:
    room_id: str
    status: str  # one of services/room_status.py's STATUSES
    busy: tuple[Interval, ...] = ()
    stale: bool = False
    as_of: float | None = None
    # with status unknown: the spans no calendar answer covers (never free); busy time is
    # published only outside them (services/freebusy_compose.py)
    unknown: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class FreeBusyAnswer:
    time_min: datetime
    time_max: datetime
    rooms: dict[str, RoomAvailability]

    @cached_property
    def encoded(self) -> str:
        """The JSON document, encoded once: a remembered answer is served again as text."""
        return json.dumps(as_json(self), separators=(",", ":"))


def check_query(
    room_ids: list[str],
    time_min: datetime,
    time_max: datetime,
    granularity: int,
    max_rooms: int = MAX_ROOMS,
) -> None:
    """Refuse a query the gateway does not answer, with a message that says why."""
    if not room_ids:
        raise QueryRefused("rooms: name at least one room")
    if len(room_ids) > max_rooms:
        raise QueryRefused(f"rooms: at most {max_rooms} rooms per call")
    if len(set(room_ids)) != len(room_ids):
        raise QueryRefused("rooms: a room is named twice")
    if time_min.tzinfo is None or time_max.tzinfo is None:
        raise QueryRefused("timeMin and timeMax need a time zone offset (RFC 3339)")
    if time_max <= time_min:
        raise QueryRefused("timeMax must be after timeMin")
    if time_max - time_min > timedelta(days=MAX_DAYS):
        raise QueryRefused(f"at most {MAX_DAYS} days per call")
    if granularity not in GRANULARITIES:
        raise QueryRefused(f"granularity must be one of {', '.join(map(str, GRANULARITIES))}")


def utc_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days [start, end) touches: the cache holds one entry per day."""
    first, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC)
    days, day = [], first
    while day <= last.date():
        days.append(day)
        day += timedelta(days=1)
    return days


def as_json(answer: FreeBusyAnswer) -> dict[str, Any]:
    return {
        "timeMin": rfc3339(answer.time_min),
        "timeMax": rfc3339(answer.time_max),
        "rooms": {room_id: room_json(found) for room_id, found in answer.rooms.items()},
    }


def room_json(found: RoomAvailability) -> dict[str, Any]:
    """One room's answer; an `unknown` room also lists its unknown spans (the whole range
    when nothing could be read), so a caller can tell free from unknown in the rest."""
    shown: dict[str, Any] = {
        "busy": [i.as_json() for i in found.busy],
        "status": found.status,
        "stale": found.stale,
        "asOf": rfc3339(datetime.fromtimestamp(found.as_of, UTC)) if found.as_of else None,
    }
    if found.status == UNKNOWN:
        shown["unknown"] = [i.as_json() for i in found.unknown]
    return shown

"""What the booking API (/v1) takes and returns: its request and answer models.

The models are the contract twice over: pydantic checks every request against them (a
failure is a 400 naming the field), and the OpenAPI document is generated from the same
classes, so the documentation cannot drift from what is enforced. Kept apart from the
routes in `api_v1` so each reads on its own.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.services.freebusy_answer import GRANULARITIES, MAX_DAYS, MAX_ROOMS
from gateway.services.intervals import SUPPORTED_RANGE, supported
from gateway.services.room_hours import Capacity, DateException, Equipment
from gateway.services.room_model import ROOM_ID, Weekday
from gateway.services.room_status import RoomStatus
from gateway.services.room_status import described as status_words

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
TIME_EXAMPLE = "2025-03-03T09:00:00Z"
MIN_DURATION, MAX_DURATION = 5, 480


def _moment(value: Any) -> Any:
    """RFC 3339 with an offset (Z or +hh:mm), nothing looser: no dates, numbers or naive times."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError(f"must be an RFC 3339 date-time with an offset, e.g. {TIME_EXAMPLE}")
    moment = datetime.fromisoformat(value.upper())
    if not supported(moment):
        raise ValueError(f"must lie {SUPPORTED_RANGE}")
    return moment


class FreeBusyRequest(BaseModel):
    """Busy time of many rooms over a span of days (the limits are in the fields)."""

    model_config = ConfigDict(extra="forbid")

    rooms: list[str] = Field(
        description=f"Room ids, 1 to {MAX_ROOMS}, each once.",
        json_schema_extra={
            "items": {"type": "string", "pattern": ROOM_ID.pattern},
            "minItems": 1,
            "maxItems": MAX_ROOMS,
            "uniqueItems": True,
        },
    )
    time_min: datetime = Field(alias="timeMin", description="Start, RFC 3339 with an offset.")
    time_max: datetime = Field(alias="timeMax", description="End (exclusive), after timeMin.")
    granularity: int = Field(
        default=0,
        strict=True,  # as Capacity: JSON false is not 0 (the examples' test sent it)
        description="Round busy time outward to this many minutes (0: exact).",
        json_schema_extra={"enum": list(GRANULARITIES)},
    )

    rfc3339_times = field_validator("time_min", "time_max", mode="before")(_moment)

    @field_validator("rooms")
    @classmethod
    def _rooms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one room")
        if len(value) > MAX_ROOMS:
            raise ValueError(f"at most {MAX_ROOMS} rooms per call, got {len(value)}")
        for room_id in value:
            if not ROOM_ID.match(room_id):
                raise ValueError(f"{room_id[:70]!r} is not a room id (a-z, 0-9, '-')")
        if len(set(value)) != len(value):
            twice = sorted({r for r in value if value.count(r) > 1})
            raise ValueError(f"each room once: {', '.join(twice)} named more than once")
        return value

    @field_validator("granularity")
    @classmethod
    def _granularity(cls, value: int) -> int:
        if value not in GRANULARITIES:
            raise ValueError(f"must be one of {', '.join(map(str, GRANULARITIES))}")
        return value

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.time_min, self.time_max, "timeMin", "timeMax")
        return self


class FreeBusyQuery(FreeBusyRequest):
    """Busy time of many rooms, asked with query parameters: the fields of the POST body."""


class SlotsQuery(BaseModel):
    """Free slots of at least `duration` minutes inside the room's bookable hours."""

    model_config = ConfigDict(extra="forbid")

    start: datetime = Field(alias="from", description="Start, RFC 3339 with an offset.")
    end: datetime = Field(alias="to", description="End (exclusive), after `from`.")
    duration: int = Field(
        ge=MIN_DURATION, le=MAX_DURATION, description="Minutes a slot must last at least."
    )

    rfc3339_times = field_validator("start", "end", mode="before")(_moment)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.start, self.end, "from", "to")
        return self


def _check_window(start: datetime, end: datetime, first: str, last: str) -> None:
    if end <= start:
        raise ValueError(f"{last} must be after {first}")
    if end - start > timedelta(days=MAX_DAYS):
        raise ValueError(f"at most {MAX_DAYS} days from {first} to {last}")


class RoomSearchRequest(BaseModel):
    """Rooms free for the whole span, bookable all of it, with what the caller needs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "timeMin": "2026-12-24T09:00:00+01:00",
                    "timeMax": "2026-12-24T10:00:00+01:00",
                    "capacity": 6,
                    "location": "Ghent",
                    "equipment": ["projector"],
                }
            ]
        },
    )

    time_min: datetime = Field(alias="timeMin", description="Start, RFC 3339 with an offset.")
    time_max: datetime = Field(alias="timeMax", description="End (exclusive), after timeMin.")
    capacity: Capacity | None = Field(default=None, description="At least this many seats.")
    location: str | None = Field(
        default=None, max_length=200, description="Part of the room's location (any case)."
    )
    equipment: Equipment = Field(
        default_factory=list, description='Every one of these (any case), e.g. ["projector"].'
    )

    rfc3339_times = field_validator("time_min", "time_max", mode="before")(_moment)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.time_min, self.time_max, "timeMin", "timeMax")
        return self


class RoomOut(BaseModel):
    """A bookable room as callers see it: never its host or calendar."""

    id: str
    name: str
    location: str
    time_zone: str = Field(alias="timeZone", description="IANA time zone.")
    hours: dict[Weekday, list[list[str]]] = Field(
        description='Bookable hours, local time: {"monday": [["09:00", "17:00"]], ...}.'
    )
    exceptions: list[DateException] = Field(
        description="Local dates whose hours replace the weekly ones ([]: closed that day)."
    )
    capacity: int | None = Field(description="Seats, when the registry says.")
    equipment: list[str]


class RoomList(BaseModel):
    rooms: list[RoomOut]


class FreeRoom(RoomOut):
    stale: bool = Field(description="Judged from an older cached answer.")
    as_of: str | None = Field(
        alias="asOf", description="When the calendar was read (RFC 3339, UTC)."
    )


class RoomSearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "timeMin": "2026-12-24T08:00:00Z",
                    "timeMax": "2026-12-24T09:00:00Z",
                    "rooms": [
                        {
                            "id": "blue",
                            "name": "Blue room",
                            "location": "Ghent, 2nd floor",
                            "timeZone": "Europe/Brussels",
                            "hours": {"thursday": [["08:00", "18:00"]]},
                            "exceptions": [{"date": "2026-12-24", "hours": [["08:00", "12:00"]]}],
                            "capacity": 8,
                            "equipment": ["projector"],
                            "stale": False,
                            "asOf": "2026-12-24T07:58:12Z",
                        }
                    ],
                }
            ]
        }
    )

    time_min: str = Field(alias="timeMin")
    time_max: str = Field(alias="timeMax")
    rooms: list[FreeRoom] = Field(description="By id; only rooms free for the whole span.")


STATUS_DESCRIPTION = (
    "Why the room has or lacks busy times; `ok` carries them for the whole range, "
    "`unknown` only outside its `unknown` spans, and no other status ever means free. "
    + status_words()
)


class Span(BaseModel):
    start: str = Field(description="RFC 3339, UTC (Z).")
    end: str = Field(description="RFC 3339, UTC (Z).")


class RoomBusy(BaseModel):
    busy: list[Span]
    status: RoomStatus = Field(description=STATUS_DESCRIPTION)
    stale: bool = Field(description="Served from an older cached answer.")
    as_of: str | None = Field(
        alias="asOf", description="When the calendar was read (RFC 3339, UTC)."
    )
    unknown: list[Span] = Field(
        default_factory=list,
        description="Only with status `unknown`: the spans where some calendar of the room "
        "could not be read (the whole range when none could). Never free there; outside "
        "them, `busy` is exact and the rest of the bookable hours is free.",
    )


class FreeBusyResponse(BaseModel):
    time_min: str = Field(alias="timeMin")
    time_max: str = Field(alias="timeMax")
    rooms: dict[str, RoomBusy]


class SlotsResponse(BaseModel):
    room: str
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    duration: int
    status: RoomStatus = Field(description=STATUS_DESCRIPTION)
    stale: bool
    as_of: str | None = Field(alias="asOf")
    slots: list[Span]

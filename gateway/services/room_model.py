"""A bookable room as its admin describes it: the validated model, its refusals, its JSON.

The registry's rules live here (ids are slugs, time zones are IANA names, hours are ranges,
unknown fields are errors) so that the API, the CLI and the services read one definition;
the service that stores rooms and binds them to calendars is services/rooms.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.services.callers import MEMBERS
from gateway.services.room_hours import (
    MAX_EXCEPTIONS,
    Capacity,
    DateException,
    Equipment,
    check_equipment,
    check_exceptions,
    check_ranges,
)

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ROOM_ID = re.compile(r"^[a-z0-9-]{1,64}$")
USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
AUDIENCE = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
EDITABLE = (
    "name",
    "location",
    "time_zone",
    "hours",
    "exceptions",
    "capacity",
    "equipment",
    "host",
    "visibility",
)


# -- errors -------------------------------------------------------------------------------------
class RoomError(Exception):
    """A refusal with an HTTP status, a machine code and a message safe to show."""

    status = 400
    code = "invalid_room"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRoom(RoomError):
    status, code = 400, "invalid_room"


class RoomNotFound(RoomError):
    status, code = 404, "room_not_found"


class RoomExists(RoomError):
    status, code = 409, "room_exists"


class BindingRefused(RoomError):
    status, code = 403, "binding_refused"


class InvalidCalendar(RoomError):
    status, code = 400, "invalid_calendar"


class TooManyCalendars(RoomError):
    status, code = 409, "too_many_calendars"


class CalendarListUnavailable(RoomError):
    status, code = 502, "calendar_list_unavailable"


# -- the registry's models --------------------------------------------------------------------
@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class RoomSpec(BaseModel):
    """What an admin says about a room; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    name: str = Field(min_length=1, max_length=200)
    location: str = Field(default="", max_length=200)
    time_zone: str
    hours: dict[Weekday, list[list[str]]] = Field(default_factory=dict)
    exceptions: list[DateException] = Field(
        default_factory=list,
        max_length=MAX_EXCEPTIONS,
        description="Local dates whose hours replace the weekly ones ([] closes the room).",
    )
    capacity: Capacity | None = Field(default=None, description="How many people it seats.")
    equipment: Equipment = Field(
        default_factory=list, description='What it has, e.g. ["projector", "whiteboard"].'
    )
    host: str | None = None
    # Unless its admin says otherwise, a room is visible to every signed-in member (the one
    # place this default is written); `[]` makes it visible to nobody but its host.
    visibility: list[str] = Field(default_factory=lambda: [MEMBERS], max_length=100)

    @field_validator("exceptions")
    @classmethod
    def _exceptions(cls, value: list[DateException]) -> list[DateException]:
        return check_exceptions(value)

    @field_validator("equipment")
    @classmethod
    def _equipment(cls, value: list[str]) -> list[str]:
        return check_equipment(value)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not ROOM_ID.match(value):
            raise ValueError("must be 1 to 64 lower-case letters, digits or hyphens")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in _zones():
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Brussels")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not USER_ID.match(value):
            raise ValueError("must be a user id (letters, digits, '-' and '_')")
        return value or None

    @field_validator("visibility")
    @classmethod
    def _audience(cls, value: list[str]) -> list[str]:
        for name in value:
            if not AUDIENCE.match(name):
                raise ValueError(f"{name!r} is not a group or client name")
        return sorted(set(value))

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
        cleaned: dict[str, list[list[str]]] = {}
        for day in WEEKDAYS:
            ranges = value.get(day)
            if ranges:
                cleaned[day] = check_ranges(day, ranges)
        return cleaned


class Room(RoomSpec):
    created: float
    updated: float

    def spec(self) -> dict[str, Any]:
        return self.model_dump(exclude={"created", "updated"})


def describe(error: ValidationError) -> str:
    """A pydantic error as one short sentence per field, without echoing input values."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "body"
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown field {where!r}")
        elif item["type"] == "missing":
            parts.append(f"{where!r} is required")
        else:
            parts.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def read_room(document: str | None) -> Room | None:
    """A stored room, or None when its document no longer validates (planted, or written by
    an older schema): such a room reads as missing everywhere, never as a 500."""
    if not document:
        return None
    try:
        return Room.model_validate_json(document)
    except ValidationError:
        log.warning("a room document does not validate; it reads as missing")
        return None


def validated(data: dict[str, Any]) -> RoomSpec:
    try:
        return RoomSpec.model_validate(data)
    except ValidationError as error:
        raise InvalidRoom(describe(error)) from None


def room_json(
    room: Room, *, bound: bool, calendars: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """A room as the admin API shows it; with `calendars`, the calendars behind it (opaque
    grant ids, never a calendar's id or name)."""
    shown = {
        **room.spec(),
        "created": _iso(room.created),
        "updated": _iso(room.updated),
        "bound": bound,
    }
    if calendars is not None:
        shown["calendars"] = [dict(c) for c in calendars]
    return shown


def _iso(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )

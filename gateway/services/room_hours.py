"""A room's bookable hours: the weekly ranges, the date exceptions that replace them, and the
room attributes people filter by (capacity, equipment).

Hours are local wall-clock times of the room's time zone. A date exception
(`{"date": "2026-12-25", "hours": []}`) replaces that local date's weekly hours wholly: an
empty list closes the room that day, a list of ranges opens it only then. They are kept
apart from services/rooms.py so that the registry's model and the time arithmetic
(services/intervals.py) share one set of rules without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationInfo, field_validator

CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_RANGES_A_DAY = 24
# A year of holidays and special days, and some; more is a mistake, not a calendar.
MAX_EXCEPTIONS = 366
# The dates the time arithmetic handles (services/intervals.py: EARLIEST..LATEST).
FIRST_YEAR, LAST_YEAR = 1970, 9998
MAX_CAPACITY = 100_000
MAX_EQUIPMENT = 30
EQUIPMENT_LENGTH = 40
EQUIPMENT_ITEM = re.compile(r"^[^\x00-\x1f\x7f]{1,40}$")

# JSON integers only: "12" or 12.5 or true is refused, as the OpenAPI document says.
Capacity = Annotated[int, Strict(), Field(ge=1, le=MAX_CAPACITY)]
Equipment = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=EQUIPMENT_LENGTH)]],
    Field(max_length=MAX_EQUIPMENT),
]


def check_ranges(label: str, ranges: Sequence[Sequence[str]]) -> list[list[str]]:
    """`ranges` ([["09:00", "12:00"], ...]) sorted, or ValueError naming `label` and why:
    each range starts before it ends, none overlap, at most 24 a day."""
    if len(ranges) > MAX_RANGES_A_DAY:
        raise ValueError(f"{label}: at most {MAX_RANGES_A_DAY} ranges a day")
    for pair in ranges:
        if len(pair) != 2:
            raise ValueError(f'{label}: each range is [start, end], e.g. ["09:00", "17:00"]')
        start, end = pair
        for moment in (start, end):
            if not CLOCK.match(moment):
                raise ValueError(f"{label}: {moment!r} is not a time of day as HH:MM")
        if start == "24:00" or start >= end:
            raise ValueError(f"{label}: {start}-{end} must start before it ends")
    ordered = sorted([s, e] for s, e in ranges)
    for (_, end), (start, _) in pairwise(ordered):
        if start < end:
            raise ValueError(f"{label}: the ranges overlap around {start}")
    return ordered


def parse_date(value: str) -> date:
    """A calendar date written YYYY-MM-DD within the supported years, else ValueError."""
    if not DATE.match(value):
        raise ValueError(f"{value[:20]!r} is not a date such as 2026-12-25")
    try:
        found = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date of the calendar") from None
    if not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise ValueError(f"{value!r}: dates lie from {FIRST_YEAR} to {LAST_YEAR}")
    return found


class DateException(BaseModel):
    """One local date whose hours replace the weekly ones (an empty list: closed)."""

    model_config = ConfigDict(extra="forbid")

    date: str = Field(
        description="A local date of the room's time zone, YYYY-MM-DD.",
        json_schema_extra={"format": "date"},
    )
    hours: list[list[str]] = Field(
        max_length=MAX_RANGES_A_DAY,
        description='That day\'s bookable hours, e.g. [["08:00", "12:00"]]; [] closes the room.',
    )

    @field_validator("date")
    @classmethod
    def _date(cls, value: str) -> str:
        return parse_date(value).isoformat()

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[list[str]], info: ValidationInfo) -> list[list[str]]:
        return check_ranges(str(info.data.get("date", "hours")), value)


def check_exceptions(value: Iterable[DateException]) -> list[DateException]:
    """Sorted by date, each date at most once."""
    ordered = sorted(value, key=lambda e: e.date)
    for first, second in pairwise(ordered):
        if first.date == second.date:
            raise ValueError(f"{first.date} is given twice")
    return ordered


def check_equipment(value: Iterable[str]) -> list[str]:
    """Printable short names, each once (case aside), in the order given."""
    seen: set[str] = set()
    kept = []
    for item in value:
        if not EQUIPMENT_ITEM.match(item):
            raise ValueError(f"{item[:40]!r} is not a short printable name")
        if item.casefold() not in seen:
            seen.add(item.casefold())
            kept.append(item)
    return kept


def exception_days(exceptions: Iterable[Any]) -> dict[date, list[list[str]]]:
    """date -> that day's hours, for services/intervals.bookable_windows."""
    return {date.fromisoformat(e.date): e.hours for e in exceptions}


def has_equipment(room_equipment: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether every wanted item is among the room's (compared without case)."""
    have = {item.casefold() for item in room_equipment}
    return all(item.casefold() in have for item in wanted)


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """Every IANA zone name this system knows (read once)."""
    return frozenset(available_timezones())

"""The admin's room form, read into a room document (services/rooms.py) and written back.

A browser form without script sends text: hours as "08:00-12:00, 13:00-18:00" per weekday,
date exceptions as rows of a date and hours ("closed" or empty closes the room that day),
equipment and extra audiences as comma-separated words. Each field is checked here first, so
that a mistake is shown next to the field it is in, with everything typed kept; RoomService
then checks the whole document again (the one set of rules of the registry).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from gateway.services.callers import MEMBERS
from gateway.services.room_hours import (
    EQUIPMENT_ITEM,
    MAX_CAPACITY,
    MAX_EQUIPMENT,
    MAX_EXCEPTIONS,
    check_equipment,
    check_ranges,
    parse_date,
    time_zones,
)
from gateway.services.room_model import AUDIENCE, ROOM_ID, USER_ID, WEEKDAYS, Room

NAME_MAX, LOCATION_MAX, TEXT_MAX = 200, 200, 2000
BLANK_EXCEPTION_ROWS = 3
CLOSED_WORDS = frozenset({"", "closed", "-"})
RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*(?:-|\u2013|\u2014|to)\s*(\d{1,2}:\d{2})\s*$")


@dataclass
class RoomForm:
    """What the form holds (as typed), the mistakes by field, and the document it makes."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def exception_rows(self) -> list[tuple[str, str]]:
        """The typed exception rows, then blank ones to add more."""
        rows: list[tuple[str, str]] = list(self.values.get("exceptions", []))
        return rows + [("", "")] * BLANK_EXCEPTION_ROWS


def blank_form() -> RoomForm:
    hours = {day: "08:00-18:00" if day not in ("saturday", "sunday") else "" for day in WEEKDAYS}
    return RoomForm(
        {
            "id": "",
            "name": "",
            "location": "",
            "time_zone": "",
            "hours": hours,
            "exceptions": [],
            "capacity": "",
            "equipment": "",
            "visibility": [MEMBERS],
            "visibility_other": "",
            "host": "",
        }
    )


def room_form(room: Room, known_audiences: list[str]) -> RoomForm:
    """The form filled in from a stored room."""
    others = [a for a in room.visibility if a != MEMBERS and a not in known_audiences]
    return RoomForm(
        {
            "id": room.id,
            "name": room.name,
            "location": room.location,
            "time_zone": room.time_zone,
            "hours": {day: _ranges_text(room.hours.get(day, [])) for day in WEEKDAYS},  # type: ignore[call-overload]
            "exceptions": [(e.date, _ranges_text(e.hours) or "closed") for e in room.exceptions],
            "capacity": str(room.capacity or ""),
            "equipment": ", ".join(room.equipment),
            "visibility": [a for a in room.visibility if a not in others],
            "visibility_other": ", ".join(others),
            "host": room.host or "",
        }
    )


def read_form(posted: MultiDict[str, str], *, new: bool) -> tuple[RoomForm, dict[str, Any]]:
    """The form as typed and the room document it makes; the document is only meant to be
    saved when `form.errors` is empty."""
    text = {name: posted.get(name, "")[:TEXT_MAX].strip() for name in _TEXT_FIELDS}
    dates = [d[:TEXT_MAX].strip() for d in posted.getlist("exception_date")]
    hours_typed = [h[:TEXT_MAX].strip() for h in posted.getlist("exception_hours")]
    # one past the limit, so that too many is said, not cut silently
    rows = [(d, h) for d, h in zip(dates, hours_typed, strict=False) if d or h]
    rows = rows[: MAX_EXCEPTIONS + 1]
    form = RoomForm(
        {
            **text,
            "hours": {day: posted.get(f"hours_{day}", "")[:TEXT_MAX].strip() for day in WEEKDAYS},
            "exceptions": rows,
            "visibility": [v[:64] for v in posted.getlist("visibility")][:100],
        }
    )
    document: dict[str, Any] = {}
    _identity(form, document, new=new)
    _place(form, document)
    _weekly(form, document)
    _exceptions(form, document)
    _attributes(form, document)
    _audience(form, document)
    return form, document


_TEXT_FIELDS = (
    "id", "name", "location", "time_zone", "capacity", "equipment", "visibility_other", "host",
)  # fmt: skip


def _identity(form: RoomForm, document: dict[str, Any], *, new: bool) -> None:
    name = form.values["name"]
    if not name:
        form.errors["name"] = "Give the room a name."
    elif len(name) > NAME_MAX:
        form.errors["name"] = f"Keep the name under {NAME_MAX} characters."
    else:
        document["name"] = name
    if not new:
        return
    room_id = form.values["id"] or _slug(name)
    form.values["id"] = form.values["id"] or (room_id if ROOM_ID.match(room_id) else "")
    if not ROOM_ID.match(room_id):
        form.errors["id"] = "The id is 1 to 64 lower-case letters, digits or hyphens."
    else:
        document["id"] = room_id


def _place(form: RoomForm, document: dict[str, Any]) -> None:
    location, zone = form.values["location"], form.values["time_zone"]
    if len(location) > LOCATION_MAX:
        form.errors["location"] = f"Keep the location under {LOCATION_MAX} characters."
    else:
        document["location"] = location
    if zone not in time_zones():
        form.errors["time_zone"] = "Pick a time zone from the list, such as Europe/Brussels."
    else:
        document["time_zone"] = zone


def parse_ranges(label: str, typed: str) -> list[list[str]]:
    """ "08:00-12:00, 13:00-18:00" as [["08:00", "12:00"], ...]; ValueError says why."""
    ranges = []
    for part in (p for p in re.split(r"[,;\n]", typed) if p.strip()):
        found = RANGE.match(part)
        if not found:
            raise ValueError(f"{label}: write each range as 09:00-17:00, separated by commas")
        ranges.append([_clock(found.group(1)), _clock(found.group(2))])
    return check_ranges(label, ranges)


def _weekly(form: RoomForm, document: dict[str, Any]) -> None:
    hours: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        try:
            ranges = parse_ranges(day.title(), form.values["hours"][day])
        except ValueError as error:
            form.errors[f"hours_{day}"] = str(error)
            continue
        if ranges:
            hours[day] = ranges
    document["hours"] = hours


def _exceptions(form: RoomForm, document: dict[str, Any]) -> None:
    found: list[dict[str, Any]] = []
    problems = []
    seen: set[str] = set()
    for typed_date, typed_hours in form.values["exceptions"]:
        try:
            day = parse_date(typed_date).isoformat()
            if day in seen:
                raise ValueError(f"{day} is given twice")
            seen.add(day)
            closed = typed_hours.casefold() in CLOSED_WORDS
            found.append({"date": day, "hours": [] if closed else parse_ranges(day, typed_hours)})
        except ValueError as error:
            problems.append(str(error))
    if len(found) > MAX_EXCEPTIONS:
        problems.append(f"at most {MAX_EXCEPTIONS} date exceptions")
    if problems:
        form.errors["exceptions"] = "; ".join(problems)
    document["exceptions"] = found


def _attributes(form: RoomForm, document: dict[str, Any]) -> None:
    capacity = form.values["capacity"]
    if capacity:
        if not capacity.isdigit() or not 1 <= int(capacity) <= MAX_CAPACITY:
            form.errors["capacity"] = f"Capacity is a whole number from 1 to {MAX_CAPACITY}."
        else:
            document["capacity"] = int(capacity)
    else:
        document["capacity"] = None
    items = [i.strip() for i in form.values["equipment"].split(",") if i.strip()]
    bad = next((i for i in items if not EQUIPMENT_ITEM.match(i)), None)
    if bad is not None:
        form.errors["equipment"] = "Each item is a short name of at most 40 characters."
    elif len(items) > MAX_EQUIPMENT:
        form.errors["equipment"] = f"List at most {MAX_EQUIPMENT} items."
    else:
        document["equipment"] = check_equipment(items)


def _audience(form: RoomForm, document: dict[str, Any]) -> None:
    others = [a.strip() for a in form.values["visibility_other"].split(",") if a.strip()]
    chosen = sorted(set(form.values["visibility"]) | set(others))
    bad = next((a for a in chosen if not AUDIENCE.match(a)), None)
    if bad is not None:
        form.errors["visibility"] = (
            "An audience is a group name of letters, digits and . _ : @ - (at most 64)."
        )
    else:
        document["visibility"] = chosen
    host = form.values["host"]
    if host and not USER_ID.match(host):
        form.errors["host"] = "Pick the host from the list."
    else:
        document["host"] = host or None


def _clock(typed: str) -> str:
    hours, minutes = typed.split(":")
    return f"{int(hours):02d}:{minutes}"


def _slug(name: str) -> str:
    """ "Salle Étoile 2" -> "salle-etoile-2": accents dropped, the rest hyphens."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.casefold()).strip("-")[:64]


def _ranges_text(ranges: list[list[str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in ranges)


def field_of(message: str) -> str | None:
    """The form field a RoomService refusal is about, when its message names one."""
    for name in ("name", "location", "time_zone", "capacity", "equipment", "visibility", "host"):
        if message.startswith((name, f"'{name}'")):
            return name
    return None

"""Date exceptions replace a day's weekly hours in the room's own time zone, on DST days too;
the registry refuses bad ones, and the new attributes (capacity, equipment), with one clear
message each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.services.intervals import bookable_windows
from gateway.services.room_hours import MAX_EXCEPTIONS, exception_days
from gateway.services.room_model import InvalidRoom, RoomSpec, validated

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {d: [["09:00", "17:00"]] for d in ("monday", "tuesday", "wednesday", "thursday")}
EVERY_DAY = {
    d: [["09:00", "17:00"]]
    for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def spans(windows: list[Any]) -> list[tuple[str, str]]:
    return [(w.start.strftime("%m-%dT%H:%M"), w.end.strftime("%m-%dT%H:%M")) for w in windows]


def windows_of(hours: Any, zone: ZoneInfo, start: str, end: str, exceptions: Any = ()) -> list[Any]:
    days = exception_days(room(exceptions=[dict(e) for e in exceptions]).exceptions)
    return bookable_windows(hours, zone, utc(start), utc(end), days)


def room(**fields: Any) -> RoomSpec:
    return validated({"id": "blue", "name": "Blue", "time_zone": "Europe/London", **fields})


def test_a_closed_date_and_a_short_date_replace_their_weekly_hours() -> None:
    spec = room(
        hours=WEEKDAYS_9_TO_5,
        exceptions=[
            {"date": "2026-12-25", "hours": []},  # a Friday... closed anyway; and:
            {"date": "2026-12-24", "hours": [["08:00", "12:00"]]},  # Thursday: short
            {"date": "2026-12-23", "hours": []},  # Wednesday: closed
        ],
    )
    windows = windows_of(
        spec.hours, LONDON, "2026-12-21T00:00", "2026-12-26T00:00", spec.exceptions
    )
    assert spans(windows) == [
        ("12-21T09:00", "12-21T17:00"),
        ("12-22T09:00", "12-22T17:00"),
        ("12-24T08:00", "12-24T12:00"),
    ]
    assert [e.date for e in spec.exceptions] == ["2026-12-23", "2026-12-24", "2026-12-25"]


def test_an_exception_opens_a_day_the_weekly_hours_keep_closed() -> None:
    spec = room(exceptions=[{"date": "2026-12-27", "hours": [["10:00", "12:00"]]}])  # Sunday
    windows = windows_of(
        spec.hours, LONDON, "2026-12-26T00:00", "2026-12-29T00:00", spec.exceptions
    )
    assert spans(windows) == [("12-27T10:00", "12-27T12:00")]


def test_exceptions_are_local_dates_on_the_london_spring_forward_day() -> None:
    # 2026-03-29: London goes from 01:00 GMT to 02:00 BST. Midnight to noon local is
    # 00:00 to 11:00 UTC, eleven hours; the next day 09:00 BST is 08:00 UTC.
    short = [{"date": "2026-03-29", "hours": [["00:00", "12:00"]]}]
    windows = windows_of(EVERY_DAY, LONDON, "2026-03-28T00:00", "2026-03-31T00:00", short)
    assert spans(windows) == [
        ("03-28T09:00", "03-28T17:00"),  # GMT
        ("03-29T00:00", "03-29T11:00"),
        ("03-30T08:00", "03-30T16:00"),  # BST
    ]


def test_a_whole_day_exception_is_25_hours_on_the_new_york_fall_back_day() -> None:
    # 2026-11-01: New York goes from 02:00 EDT back to 01:00 EST.
    whole = [{"date": "2026-11-01", "hours": [["00:00", "24:00"]]}]
    windows = windows_of({}, NEW_YORK, "2026-10-31T00:00", "2026-11-03T00:00", whole)
    assert spans(windows) == [("11-01T04:00", "11-02T05:00")]
    assert windows[0].duration.total_seconds() == 25 * 3600


def test_closing_the_fall_back_day_leaves_the_days_around_it() -> None:
    closed = [{"date": "2026-11-01", "hours": []}]
    windows = windows_of(EVERY_DAY, NEW_YORK, "2026-10-31T00:00", "2026-11-03T00:00", closed)
    assert spans(windows) == [
        ("10-31T13:00", "10-31T21:00"),  # EDT, UTC-4
        ("11-02T14:00", "11-02T22:00"),  # EST, UTC-5
    ]


BAD_EXCEPTIONS = [
    ([{"date": "2026-02-30", "hours": []}], "not a date of the calendar"),
    ([{"date": "25/12/2026", "hours": []}], "not a date such as 2026-12-25"),
    ([{"date": "1969-12-31", "hours": []}], "dates lie from 1970 to 9998"),
    ([{"date": "2026-12-24", "hours": [["12:00", "08:00"]]}], "2026-12-24: 12:00-08:00 must start"),
    (
        [{"date": "2026-12-24", "hours": [["08:00", "12:00"], ["11:00", "13:00"]]}],
        "2026-12-24: the ranges overlap around 11:00",
    ),
    ([{"date": "2026-12-24", "hours": [["8:00", "12:00"]]}], "is not a time of day as HH:MM"),
    ([{"date": "2026-12-24", "hours": [], "note": "x"}], "unknown field 'exceptions.0.note'"),
    ([{"date": "2026-12-24"}], "'exceptions.0.hours' is required"),
    ([{"date": "2026-12-24", "hours": []}] * 2, "2026-12-24 is given twice"),
    (
        [{"date": f"{2000 + i // 365}-01-01", "hours": []} for i in range(MAX_EXCEPTIONS + 1)],
        f"at most {MAX_EXCEPTIONS} items",
    ),
    ("2026-12-25", "valid list"),
]


@pytest.mark.parametrize(("exceptions", "message"), BAD_EXCEPTIONS)
def test_bad_exceptions_are_refused_with_what_is_wrong(exceptions: Any, message: str) -> None:
    with pytest.raises(InvalidRoom) as refused:
        room(exceptions=exceptions)
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"capacity": 0}, "greater than or equal to 1"),
        ({"capacity": "8"}, "valid integer"),
        ({"capacity": 8.5}, "valid integer"),
        ({"capacity": True}, "valid integer"),
        ({"equipment": ["x" * 41]}, "at most 40 characters"),
        ({"equipment": ["ok", "tab\there"]}, "not a short printable name"),
        ({"equipment": ["a"] * 31}, "at most 30 items"),
        ({"equipment": "projector"}, "valid list"),
    ],
)
def test_bad_attributes_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRoom) as refused:
        room(**fields)
    assert message in refused.value.message


def test_equipment_keeps_each_item_once_whatever_its_case() -> None:
    spec = room(capacity=8, equipment=["Projector", "whiteboard", "projector"])
    assert spec.capacity == 8
    assert spec.equipment == ["Projector", "whiteboard"]

"""The admin's room form read into a room document (services/room_form.py): typed hours,
date exceptions and audiences as RoomService takes them, or a mistake named by its field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from werkzeug.datastructures import MultiDict

from gateway.services.room_form import blank_form, parse_ranges, read_form, room_form
from gateway.services.room_model import Room


@pytest.mark.parametrize(
    ("typed", "ranges"),
    [
        ("", []),
        ("08:00-12:00", [["08:00", "12:00"]]),
        ("13:00 - 18:00, 8:00-12:00", [["08:00", "12:00"], ["13:00", "18:00"]]),
        ("08:00\u201312:00; 14:00 to 24:00", [["08:00", "12:00"], ["14:00", "24:00"]]),
    ],
)
def test_hours_are_typed_as_ranges_separated_by_commas(typed: str, ranges: list[list[str]]) -> None:
    assert parse_ranges("Monday", typed) == ranges


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("9-17", "write each range as 09:00-17:00"),
        ("08:00-12:00 13:00-18:00", "write each range as 09:00-17:00"),
        ("12:00-08:00", "must start before it ends"),
        ("08:00-12:00, 11:00-14:00", "overlap"),
        ("08:60-09:00", "not a time of day"),
    ],
)
def test_hours_that_do_not_read_say_why(typed: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_ranges("Monday", typed)


def form(**fields: str | list[str]) -> MultiDict[str, str]:
    base: dict[str, str | list[str]] = {"name": "Atlas", "time_zone": "Europe/London"}
    base.update(fields)
    return MultiDict(
        [(k, v) for k, vs in base.items() for v in ([vs] if isinstance(vs, str) else vs)]
    )


def test_a_new_rooms_id_is_made_from_its_name_and_empty_rows_are_ignored() -> None:
    read, document = read_form(
        form(
            name="Salle Étoile 2",
            exception_date=["2026-12-25", "", "2026-12-24"],
            exception_hours=["closed", "", "08:00-12:00"],
            visibility=["members"],
            visibility_other="kiosk, , hall",
        ),
        new=True,
    )
    assert read.errors == {}
    assert document["id"] == "salle-etoile-2"
    assert document["exceptions"] == [
        {"date": "2026-12-25", "hours": []},
        {"date": "2026-12-24", "hours": [["08:00", "12:00"]]},
    ]
    assert document["visibility"] == ["hall", "kiosk", "members"]
    assert document["host"] is None and document["capacity"] is None
    assert document["hours"] == {}


def test_a_stored_room_fills_the_form_that_saves_it_unchanged() -> None:
    room = Room(
        id="atlas",
        name="Atlas",
        location="London",
        time_zone="Europe/London",
        hours={"monday": [["08:00", "12:00"], ["13:00", "18:00"]]},
        exceptions=[{"date": "2026-12-25", "hours": []}],  # type: ignore[list-item]
        capacity=6,
        equipment=["projector"],
        host="uid-1",
        visibility=["kiosk", "lobby", "members"],
        created=1.0,
        updated=1.0,
    )
    filled = room_form(room, known_audiences=["lobby"])
    assert filled.values["visibility_other"] == "kiosk"
    posted = MultiDict(
        [
            *((k, v) for k, v in filled.values.items() if isinstance(v, str)),
            *((f"hours_{d}", h) for d, h in filled.values["hours"].items()),
            *(("visibility", v) for v in filled.values["visibility"]),
            *(("exception_date", d) for d, _ in filled.exception_rows),
            *(("exception_hours", h) for _, h in filled.exception_rows),
        ]
    )
    read, document = read_form(posted, new=False)
    assert read.errors == {}
    assert document == {k: v for k, v in room.spec().items() if k != "id"} | {
        "exceptions": [{"date": "2026-12-25", "hours": []}]
    }


def test_the_blank_form_offers_working_days_and_members() -> None:
    blank = blank_form()
    assert (
        blank.values["hours"]["friday"] == "08:00-18:00" and blank.values["hours"]["sunday"] == ""
    )
    assert blank.values["visibility"] == ["members"]
    assert len(blank.exception_rows) == 3


def test_hours_without_a_date_and_too_many_dates_are_mistakes() -> None:
    read, _ = read_form(form(exception_date=[""], exception_hours=["08:00-12:00"]), new=True)
    assert "is not a date" in read.errors["exceptions"]
    days = [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(367)]
    read, _ = read_form(form(exception_date=days, exception_hours=[""] * 367), new=True)
    assert read.errors == {"exceptions": "at most 366 date exceptions"}

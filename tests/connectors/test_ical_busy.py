"""The busy-time parser CalDAV and ICS feeds share: recorded iCalendar text in, times out."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from connectors.ical_busy import (
    MAX_HOURLY_SERIES,
    busy_from_events,
    busy_of_calendar,
    clip,
    times_only,
)
from tests.connectors.caldav_events import ALL_DAY_EVENT, DAY, EVENTS, EXPECTED, PLANTED, utc
from tests.connectors.ics_events import FEED, PLANTED_IN_FEED
from tests.connectors.radicale_server import vcalendar

STAMP = "DTSTAMP:20261101T000000Z"


def test_one_resource_per_event_and_one_whole_feed_give_the_same_times() -> None:
    assert busy_from_events(EVENTS, *DAY) == EXPECTED
    assert busy_of_calendar(icalendar.Calendar.from_ical(FEED), *DAY) == EXPECTED


def test_only_times_come_out() -> None:
    busy = busy_from_events(EVENTS, *DAY)
    assert all(isinstance(t, datetime) and t.utcoffset() == timedelta(0) for p in busy for t in p)
    assert not any(text in repr(busy) for text in PLANTED)


def test_an_all_day_event_fills_the_day_in_the_calendars_zone() -> None:
    assert busy_from_events([ALL_DAY_EVENT], *DAY) == (DAY,)
    berlin = busy_from_events([ALL_DAY_EVENT], *DAY, floating=ZoneInfo("Europe/Berlin"))
    assert berlin == ((DAY[0], utc(23)),)  # Berlin's 25th: 23:00 UTC the 24th to 23:00 the 25th


def test_an_all_day_date_without_an_end_lasts_one_day_and_an_instant_none() -> None:
    dated = vcalendar(f"UID:d\r\n{STAMP}\r\nDTSTART;VALUE=DATE:20261125")
    instant = vcalendar(f"UID:i\r\n{STAMP}\r\nDTSTART:20261125T100000Z")
    assert busy_from_events([dated], *DAY) == (DAY,)
    assert busy_from_events([instant], *DAY) == ()


def test_periods_are_clipped_sorted_and_merged() -> None:
    periods = [(utc(10), utc(11)), (utc(8), utc(9)), (utc(10, 30), utc(12)), (utc(5), utc(5))]
    assert clip(periods, utc(8, 30), utc(23)) == ((utc(8, 30), utc(9)), (utc(10), utc(12)))


def test_every_event_field_is_dropped_as_text_before_parsing() -> None:
    alarm = (
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Remind the CEO\r\n"
        "TRIGGER:-PT5M\r\nEND:VALARM"
    )
    todo = "BEGIN:VTODO\r\nUID:t\r\nSUMMARY:Secret todo\r\nEND:VTODO\r\n"
    folded = "DESCRIPTION:a long\r\n  folded secret line"
    text = FEED.replace("END:VEVENT", f"{alarm}\r\n{folded}\r\nEND:VEVENT", 1)
    text = text.replace("END:VCALENDAR", todo + "END:VCALENDAR")
    reduced = times_only(text)
    for gone in (*PLANTED_IN_FEED, "Remind the CEO", "Secret todo", "folded secret", "UID:plain"):
        assert gone not in reduced, gone
    assert "DTSTART;TZID=Europe/Berlin:20261120T093000" in reduced and "BEGIN:VTIMEZONE" in reduced
    calendar = icalendar.Calendar.from_ical(reduced)
    assert busy_of_calendar(calendar, *DAY) == EXPECTED  # overrides still find their series


@pytest.mark.parametrize("frequency", ["SECONDLY", "minutely"])
def test_a_recurrence_too_frequent_to_expand_makes_the_calendar_unreadable(frequency: str) -> None:
    flood = vcalendar(f"UID:f\r\n{STAMP}\r\nDTSTART:20261125T100000Z\r\nRRULE:FREQ={frequency}")
    with pytest.raises(ValueError):
        busy_from_events([flood], *DAY)


def test_many_hourly_series_make_the_calendar_unreadable() -> None:
    hourly = [
        f"UID:h{n}\r\n{STAMP}\r\nDTSTART:20261125T100000Z\r\nDURATION:PT1M\r\nRRULE:FREQ=HOURLY"
        for n in range(MAX_HOURLY_SERIES + 1)
    ]
    assert busy_from_events([vcalendar(*hourly[:3])], *DAY)  # a few are fine
    with pytest.raises(ValueError):
        busy_from_events([vcalendar(*hourly)], *DAY)

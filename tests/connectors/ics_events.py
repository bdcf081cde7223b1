"""One published feed holding every case busy time must get right, with planted private
text, and the busy times it must give on 2026-11-25 (the same day and cases as CalDAV's,
tests/connectors/caldav_events.py, plus what only a feed carries: its name, its zone)."""

from __future__ import annotations

from tests.connectors.caldav_events import BERLIN, DAY, EXPECTED, PLANTED, PRIVATE, STAMP, utc

__all__ = ["ALL_DAY_FEED", "DAY", "EXPECTED", "FEED", "PLANTED_IN_FEED", "feed", "utc"]

CALENDAR_NAME = "Dr. Jane Secretname's private calendar"
PLANTED_IN_FEED = (*PLANTED, CALENDAR_NAME)

EVENTS = (
    # plain busy hour, UTC
    f"UID:plain\r\n{STAMP}\r\nDTSTART:20261125T080000Z\r\nDTEND:20261125T090000Z\r\n{PRIVATE}",
    # transparent and cancelled: free
    f"UID:transp\r\n{STAMP}\r\nDTSTART:20261125T120000Z\r\nDTEND:20261125T130000Z\r\n"
    f"TRANSP:TRANSPARENT\r\n{PRIVATE}",
    f"UID:cancel\r\n{STAMP}\r\nDTSTART:20261125T140000Z\r\nDTEND:20261125T150000Z\r\n"
    f"STATUS:CANCELLED\r\n{PRIVATE}",
    # daily stand-up 09:30-09:45 Berlin (08:30 UTC in November), with DURATION; the 24th
    # excluded, the 25th moved to 16:00 Berlin (15:00 UTC) for half an hour
    f"UID:standup\r\n{STAMP}\r\nDTSTART;TZID=Europe/Berlin:20261120T093000\r\n"
    f"DURATION:PT15M\r\nRRULE:FREQ=DAILY;COUNT=20\r\n"
    f"EXDATE;TZID=Europe/Berlin:20261124T093000\r\n{PRIVATE}",
    f"UID:standup\r\n{STAMP}\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261125T093000\r\n"
    f"DTSTART;TZID=Europe/Berlin:20261125T160000\r\n"
    f"DTEND;TZID=Europe/Berlin:20261125T163000\r\n{PRIVATE}",
    # weekly on Wednesdays 18:00-19:00 UTC, except this Wednesday (EXDATE): free
    f"UID:weekly\r\n{STAMP}\r\nDTSTART:20261104T180000Z\r\nDTEND:20261104T190000Z\r\n"
    f"RRULE:FREQ=WEEKLY\r\nEXDATE:20261125T180000Z\r\n{PRIVATE}",
    # floating 20:00-21:00 (no zone; the feed names none: read as UTC)
    f"UID:floating\r\n{STAMP}\r\nDTSTART:20261125T200000\r\nDTEND:20261125T210000\r\n{PRIVATE}",
    # an all-day event the next day: outside the asked day
    f"UID:allday\r\n{STAMP}\r\nDTSTART;VALUE=DATE:20261126\r\nDTEND;VALUE=DATE:20261127\r\n"
    f"{PRIVATE}",
)
ALL_DAY = (
    f"UID:holiday\r\n{STAMP}\r\nDTSTART;VALUE=DATE:20261125\r\nDTEND;VALUE=DATE:20261126\r\n"
    f"{PRIVATE}"
)


def feed(*events: str, header: str = "") -> str:
    """A published calendar: its name (planted), the Berlin zone, then the events."""
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//feed//EN\r\nMETHOD:PUBLISH\r\n"
        f"X-WR-CALNAME:{CALENDAR_NAME}\r\n{header}{BERLIN}{body}END:VCALENDAR\r\n"
    )


FEED = feed(*EVENTS)
ALL_DAY_FEED = feed(ALL_DAY)

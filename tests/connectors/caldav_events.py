"""Events with planted private text, and the busy times they must give on 2026-11-25."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.connectors.radicale_server import vcalendar

DAY = (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC))  # Wednesday
PLANTED = (
    "Secret merger talk",
    "Boardroom 7",
    "ceo@example.com",
    "Agenda: the secret merger",
    "organizer-vip@example.com",
)
PRIVATE = (
    f"SUMMARY:{PLANTED[0]}\r\nLOCATION:{PLANTED[1]}\r\n"
    f"ATTENDEE;CN=CEO:mailto:{PLANTED[2]}\r\nDESCRIPTION:{PLANTED[3]}\r\n"
    f"ORGANIZER:mailto:{PLANTED[4]}"
)
BERLIN = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
)
STAMP = "DTSTAMP:20261101T000000Z"

EVENTS = [
    # plain busy hour, UTC
    vcalendar(
        f"UID:plain\r\n{STAMP}\r\nDTSTART:20261125T080000Z\r\nDTEND:20261125T090000Z\r\n{PRIVATE}"
    ),
    # transparent and cancelled: free
    vcalendar(
        f"UID:transp\r\n{STAMP}\r\nDTSTART:20261125T120000Z\r\nDTEND:20261125T130000Z\r\n"
        f"TRANSP:TRANSPARENT\r\n{PRIVATE}"
    ),
    vcalendar(
        f"UID:cancel\r\n{STAMP}\r\nDTSTART:20261125T140000Z\r\nDTEND:20261125T150000Z\r\n"
        f"STATUS:CANCELLED\r\n{PRIVATE}"
    ),
    # daily stand-up 09:30-09:45 Berlin (08:30 UTC in November), with DURATION; the 24th
    # excluded, the 25th moved to 16:00 Berlin (15:00 UTC) for half an hour
    vcalendar(
        f"UID:standup\r\n{STAMP}\r\nDTSTART;TZID=Europe/Berlin:20261120T093000\r\n"
        f"DURATION:PT15M\r\nRRULE:FREQ=DAILY;COUNT=20\r\n"
        f"EXDATE;TZID=Europe/Berlin:20261124T093000\r\n{PRIVATE}",
        f"UID:standup\r\n{STAMP}\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261125T093000\r\n"
        f"DTSTART;TZID=Europe/Berlin:20261125T160000\r\n"
        f"DTEND;TZID=Europe/Berlin:20261125T163000\r\n{PRIVATE}",
        zone=BERLIN,
    ),
    # weekly on Wednesdays 18:00-19:00 UTC, except this Wednesday (EXDATE): free
    vcalendar(
        f"UID:weekly\r\n{STAMP}\r\nDTSTART:20261104T180000Z\r\nDTEND:20261104T190000Z\r\n"
        f"RRULE:FREQ=WEEKLY\r\nEXDATE:20261125T180000Z\r\n{PRIVATE}"
    ),
    # floating 20:00-21:00 (no zone; the calendar names none: read as UTC)
    vcalendar(
        f"UID:floating\r\n{STAMP}\r\nDTSTART:20261125T200000\r\nDTEND:20261125T210000\r\n{PRIVATE}"
    ),
    # an all-day event the next day: outside the asked day
    vcalendar(
        f"UID:allday\r\n{STAMP}\r\nDTSTART;VALUE=DATE:20261126\r\nDTEND;VALUE=DATE:20261127\r\n{PRIVATE}"
    ),
]


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 25, hour, minute, tzinfo=UTC)


EXPECTED = (
    (utc(8), utc(9)),
    (utc(15), utc(15, 30)),
    (utc(20), utc(21)),
)
ALL_DAY_EVENT = vcalendar(
    f"UID:holiday\r\n{STAMP}\r\nDTSTART;VALUE=DATE:20261125\r\nDTEND;VALUE=DATE:20261126\r\n{PRIVATE}"
)

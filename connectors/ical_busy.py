"""Busy times out of iCalendar text (RFC 5545): the one parser CalDAV and ICS feeds share.

Two inputs: VEVENTs (a CalDAV calendar-query's resources, an ICS feed's whole calendar),
expanded with recurring-ical-events (RRULE, RDATE, EXDATE, overridden instances by
RECURRENCE-ID, VTIMEZONE), and VFREEBUSY answers to a CalDAV free-busy-query. Either way
only start and end times leave this module: an event's title, location, description,
attendees and organizer are never read into a returned value, so nothing but times can
reach a caller, a cache or a log line.

Whatever a server sends is first cut down to the time properties as text (`times_only`),
so event fields never even become objects here, and a recurrence too frequent to expand
in a worker's time (secondly, minutely, many hourly) makes the calendar unreadable.

Rules (RFC 5545 §3.6.1, §3.8.2.7, §3.8.1.11): TRANSP:TRANSPARENT and STATUS:CANCELLED are
free; an all-day (DATE) event without DTEND lasts one day; an instant (DATE-TIME start,
no DTEND or DURATION) takes no time; floating times and all-day dates are wall time in the
calendar's own zone (`floating`, UTC when it names none).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo

import icalendar
import recurring_ical_events

from connectors.values import Busy

FLOATING_MARGIN = timedelta(days=2)  # floating times compare as wall time: widen, then clip
# What busy time needs of a calendar (RFC 5545): the components that carry or place times,
# and in them only these properties; everything else is dropped as text, before parsing.
TIME_COMPONENTS = frozenset({"VCALENDAR", "VEVENT", "VTIMEZONE", "STANDARD", "DAYLIGHT"})
# An event's properties that place it in time or say whether it blocks it (what a CalDAV
# calendar-query asks the server for, too: connectors/caldav_dav.py)
BUSY_PROPERTIES = (
    "UID",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "TRANSP",
    "STATUS",
)
# ... and, besides, those of the calendar itself and of its time zones
TIME_PROPERTIES = frozenset(
    {"BEGIN", "END", "VERSION", "X-WR-TIMEZONE", "TZID", "TZOFFSETFROM", "TZOFFSETTO"}
) | frozenset(BUSY_PROPERTIES)
# Recurrences a room's calendar never needs, and that would take a worker's time to expand
# (one a second is 86,400 instances a day): a calendar with them is unreadable, not free.
TOO_FREQUENT = re.compile(r"FREQ=(SECONDLY|MINUTELY)", re.IGNORECASE)
MAX_HOURLY_SERIES = 50
_NAME = re.compile(r"[;:]")
_UNFOLD = re.compile(r"\r?\n[ \t]")


def times_only(raw: bytes | str) -> str:
    """The calendar reduced to what busy time needs, as iCalendar text: VEVENTs and time
    zones with their time properties only (no SUMMARY, LOCATION, DESCRIPTION, ATTENDEE,
    ORGANIZER, VALARM, VTODO ...), UIDs replaced by a digest (they only pair an overridden
    instance with its series). Raises ValueError for recurrences too frequent to expand."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    kept: list[str] = []
    skipping: list[str] = []  # the components being dropped, innermost last
    hourly = 0
    for line in _UNFOLD.sub("", text).splitlines():
        name, _, value = line.partition(":")
        name = _NAME.split(name, maxsplit=1)[0].strip().upper()
        if name in ("BEGIN", "END"):
            component = value.strip().upper()
            if skipping:
                if name == "BEGIN":
                    skipping.append(component)
                elif component == skipping[-1]:
                    skipping.pop()
                continue
            if component not in TIME_COMPONENTS:
                if name == "BEGIN":
                    skipping.append(component)
                continue
        elif skipping or name not in TIME_PROPERTIES:
            continue
        elif name == "UID":
            line = "UID:" + hashlib.sha256(value.encode()).hexdigest()[:32]
        elif name == "RRULE":
            if TOO_FREQUENT.search(value):
                raise ValueError("a recurrence too frequent to expand")
            hourly += "FREQ=HOURLY" in value.upper()
            if hourly > MAX_HOURLY_SERIES:
                raise ValueError("too many hourly recurrences to expand")
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def zone_of(vcalendar_text: str) -> tzinfo:
    """The first VTIMEZONE of a VCALENDAR text (CalDAV's calendar-timezone property);
    ValueError when it has none."""
    calendar = icalendar.Calendar.from_ical(vcalendar_text)
    for zone in calendar.walk("VTIMEZONE"):
        if isinstance(zone, icalendar.Timezone):
            return zone.to_tz()
    raise ValueError("no VTIMEZONE")


def to_utc(value: date | datetime, floating: tzinfo) -> datetime:
    if not isinstance(value, datetime):  # an all-day date starts at midnight, local time
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=floating)
    return value.astimezone(UTC)


def clip(periods: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> Busy:
    """Clipped to the asked range, sorted and merged; empty periods dropped."""
    clipped = sorted((max(s, start), min(e, end)) for s, e in periods if s < end and e > start)
    merged: list[tuple[datetime, datetime]] = []
    for s, e in clipped:
        if s >= e:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return tuple(merged)


def parse_free_busy(raw: bytes, start: datetime, end: datetime) -> Busy:
    """Busy periods of a free-busy-query answer (text/calendar with VFREEBUSY).

    Two shapes are read: RFC 4791's one VFREEBUSY for the range with FREEBUSY periods
    (FBTYPE=FREE skipped; BUSY-TENTATIVE and BUSY-UNAVAILABLE count as busy), and older
    Radicale's one VFREEBUSY per busy interval, its DTSTART/DTEND the interval and no
    FREEBUSY. A lone VFREEBUSY without FREEBUSY spanning the asked range is the first
    shape with nothing busy. Raises ValueError for an answer that is not iCalendar."""
    calendar = icalendar.Calendar.from_ical(raw)
    components = list(calendar.walk("VFREEBUSY"))
    if not components:
        raise ValueError("no VFREEBUSY in the answer")
    periods: list[tuple[datetime, datetime]] = []
    for component in components:
        lines = component.get("FREEBUSY")
        if lines is None:
            low, high = component.get("DTSTART"), component.get("DTEND")
            if low is None or high is None:
                continue
            low_utc, high_utc = to_utc(low.dt, UTC), to_utc(high.dt, UTC)
            if len(components) == 1 and low_utc <= start and high_utc >= end:
                continue  # the range itself, nothing busy in it
            periods.append((low_utc, high_utc))
            continue
        for line in lines if isinstance(lines, list) else [lines]:
            if str(line.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                continue
            for period in line.dts if hasattr(line, "dts") else [line]:
                low, high = period.dt if hasattr(period, "dt") else period
                if isinstance(high, timedelta):
                    high = low + high
                periods.append((to_utc(low, UTC), to_utc(high, UTC)))
    return clip(periods, start, end)


def busy_of_calendar(
    calendar: icalendar.Calendar, start: datetime, end: datetime, floating: tzinfo = UTC
) -> Busy:
    """Busy periods of one parsed VCALENDAR's VEVENTs between `start` and `end`."""
    return clip(_event_periods(calendar, start, end, floating), start, end)


def busy_from_events(
    texts: Sequence[str | bytes], start: datetime, end: datetime, floating: tzinfo = UTC
) -> Busy:
    """Busy periods of VEVENTs (one VCALENDAR text per resource), recurrences expanded
    (RRULE, RDATE, EXDATE, overridden instances), TRANSP:TRANSPARENT and
    STATUS:CANCELLED free, floating and all-day times in `floating`. Nothing but the
    times is read."""
    periods: list[tuple[datetime, datetime]] = []
    for text in texts:
        calendar = icalendar.Calendar.from_ical(times_only(text))
        periods += _event_periods(calendar, start, end, floating)
    return clip(periods, start, end)


def _event_periods(
    calendar: icalendar.Calendar, start: datetime, end: datetime, floating: tzinfo
) -> list[tuple[datetime, datetime]]:
    periods: list[tuple[datetime, datetime]] = []
    query = recurring_ical_events.of(calendar, components=["VEVENT"])
    for event in query.between(start - FLOATING_MARGIN, end + FLOATING_MARGIN):
        if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(event.get("STATUS", "CONFIRMED")).upper() == "CANCELLED":
            continue
        dtstart = event.get("DTSTART")
        if dtstart is None:
            continue
        low = to_utc(dtstart.dt, floating)
        if event.get("DTEND") is not None:
            high = to_utc(event["DTEND"].dt, floating)
        elif event.get("DURATION") is not None:
            high = low + event["DURATION"].dt
        elif not isinstance(dtstart.dt, datetime):
            high = low + timedelta(days=1)
        else:
            continue  # an instant takes no time (RFC 5545 §3.6.1)
        periods.append((low, high))
    return periods

"""Graph's getSchedule and rooms as the emulator answers them (PROTOCOLS.md §2.6).

Like the real service, getSchedule returns subjects and locations of events: stripping them
is the gateway's job, and tests can prove it does. Kept apart from calendar.py (Google's
freeBusy and the blueprint that routes both).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from flask import Response, jsonify, request

from emulator.calendar_busy import bearer, events_of, int_or, zone
from emulator.errors import graph_error
from emulator.faults import current_state
from emulator.records import CONSUMER_TENANT, Account, Event, Token

SCHEDULE_SCOPES = frozenset({"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"})
ROOM_SCOPES = frozenset({"Place.Read.All", "Place.ReadWrite.All"})
MAX_SCHEDULES = 20
# getSchedule's availabilityView digit per freeBusyStatus (workingElsewhere reads as free).
# Graph does not document a code for `unknown`: 4 (EWS's merged "no data") stands in, and an
# event's `view_code` plants any other.
VIEW_DIGIT = {"free": 0, "workingElsewhere": 0, "tentative": 1, "busy": 2, "oof": 3, "unknown": 4}

# -- Graph getSchedule and rooms ---------------------------------------------------------


def graph_caller(scopes: frozenset[str]) -> tuple[Token, Account] | Response:
    found = bearer("microsoft")
    if found is None:
        return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.")
    token, account = found
    if account.tenant == CONSUMER_TENANT:
        return graph_error(
            403, "ErrorAccessDenied", "This API is not supported for personal Microsoft accounts."
        )
    if not scopes & set(token.scopes):
        return graph_error(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    return found


def graph_time(value: datetime, tz: tzinfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def graph_moment(raw: Any) -> datetime | None:
    if not isinstance(raw, dict):
        return None
    fields = {k.lower(): v for k, v in raw.items()}
    tz = zone(fields.get("timezone") or "UTC")
    if tz is None or not isinstance(fields.get("datetime"), str):
        return None
    try:
        value = datetime.fromisoformat(fields["datetime"].replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def preferred_zone() -> tuple[tzinfo, str]:
    prefer = request.headers.get("Prefer", "")
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "outlook.timezone":
            label = value.strip().strip('"')
            tz = zone(label)
            if tz is not None:
                return tz, label
    return UTC, "UTC"


def schedule_events(owner: Account, address: str) -> list[Event] | None:
    state = current_state()
    address = address.lower()
    person = state.account("microsoft", address)
    if person is not None and person.tenant == owner.tenant:
        return events_of(address)
    rooms = {str(r["emailAddress"]).lower() for r in state.rooms if r["tenant"] == owner.tenant}
    return events_of(address) if address in rooms else None


def get_schedule() -> Response:
    caller = graph_caller(SCHEDULE_SCOPES)
    if isinstance(caller, Response):
        return caller
    _, owner = caller
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        return graph_error(400, "RequestBodyRead", "The request body is not valid JSON.")
    body = {k.lower(): v for k, v in raw.items()}
    schedules = body.get("schedules")
    if not isinstance(schedules, list) or not all(isinstance(s, str) for s in schedules):
        return graph_error(400, "ErrorInvalidParameter", "'schedules' must list e-mail addresses.")
    if not schedules or len(schedules) > MAX_SCHEDULES:
        return graph_error(
            400,
            "ErrorInvalidParameter",
            f"Between 1 and {MAX_SCHEDULES} schedules may be requested.",
        )
    start, end = graph_moment(body.get("starttime")), graph_moment(body.get("endtime"))
    if start is None or end is None:
        return graph_error(
            400,
            "ErrorInvalidParameter",
            "startTime and endTime need a dateTime and a known timeZone.",
        )
    if end <= start:
        return graph_error(400, "ErrorInvalidParameter", "endTime must be after startTime.")
    days = math.ceil((end - start) / timedelta(days=1))
    if days >= current_state().settings.getschedule_max_days:
        limit = current_state().settings.getschedule_max_days
        return graph_error(
            400,
            "ErrorTimeIntervalTooBig",
            "The requested time duration specified for FreeBusyViewOptions.TimeWindow is too "
            f"long. The allowed limit = {limit} days; the actual limit = {days} days.",
        )
    interval = int_or(body.get("availabilityviewinterval"), 30)
    if not 5 <= interval <= 1440:
        return graph_error(
            400, "ErrorInvalidParameter", "availabilityViewInterval must be from 5 to 1440."
        )
    tz, label = preferred_zone()
    value = [
        schedule_information(owner, address, start, end, interval, tz, label)
        for address in schedules
    ]
    return jsonify(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata"
            "#Collection(microsoft.graph.scheduleInformation)",
            "value": value,
        }
    )


def schedule_information(
    owner: Account,
    address: str,
    start: datetime,
    end: datetime,
    interval: int,
    tz: tzinfo,
    label: str,
) -> dict[str, Any]:
    events = schedule_events(owner, address)
    if events is None:
        return {
            "scheduleId": address,
            "availabilityView": "",
            "scheduleItems": [],
            "error": {
                "message": "Unable to resolve the mailbox.",
                "responseCode": "ErrorMailRecipientNotFound",
            },
        }
    inside = sorted((e for e in events if e.start < end and e.end > start), key=lambda e: e.start)
    return {
        "scheduleId": address,
        "availabilityView": availability_view(inside, start, end, interval),
        "scheduleItems": [
            {
                "isPrivate": False,
                "status": e.show_as,
                "subject": e.summary or "",
                "location": e.location or "",
                "start": {"dateTime": graph_time(e.start, tz), "timeZone": label},
                "end": {"dateTime": graph_time(e.end, tz), "timeZone": label},
            }
            for e in inside
        ],
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": "UTC"},
        },
    }


def availability_view(inside: list[Event], start: datetime, end: datetime, interval: int) -> str:
    """One digit per `interval` minutes from `start` to `end`: the first planted
    `view_code` of the events (in `inside`'s order) overlapping the slot, else the highest
    VIEW_DIGIT among them, 0 when none. Each event marks only the slots it overlaps, so a
    day of free slots costs no per-slot search (it was most of a getSchedule answer's CPU)."""
    step = timedelta(minutes=interval)
    slots = math.ceil((end - start) / step)
    covering: dict[int, list[Event]] = {}
    for event in inside:  # slot n is [start + n*step, min(start + (n+1)*step, end))
        first = max(0, (event.start - start) // step)
        last = min(slots, -((start - event.end) // step))  # ceil: slots starting before its end
        for n in range(first, last):
            covering.setdefault(n, []).append(event)
    view = ["0"] * slots
    for n, found in covering.items():
        planted = [e.view_code for e in found if e.view_code is not None]
        digits = [VIEW_DIGIT[e.show_as] for e in found if e.view_code is None]
        view[n] = planted[0] if planted else str(max(digits, default=0))
    return "".join(view)


def rooms() -> Response:
    caller = graph_caller(ROOM_SCOPES)
    if isinstance(caller, Response):
        return caller
    _, owner = caller
    state = current_state()
    mine = [r for r in state.rooms if r["tenant"] == owner.tenant]
    top = int_or(request.args.get("$top"), 100)
    skip = int_or(request.args.get("$skip"), 0)
    if top < 1 or skip < 0:
        return graph_error(400, "ErrorInvalidParameter", "Invalid $top or $skip.")
    page = mine[skip : skip + top]
    body: dict[str, Any] = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#places/microsoft.graph.room",
        "value": [
            {
                "@odata.type": "#microsoft.graph.room",
                "nickname": r["displayName"],
                "label": None,
                "phone": None,
                "audioDeviceName": None,
                "videoDeviceName": None,
                "displayDeviceName": None,
                **{k: v for k, v in r.items() if k != "tenant"},
            }
            for r in page
        ],
    }
    if skip + top < len(mine):
        body["@odata.nextLink"] = (
            f"{state.base_url}/v1.0/places/microsoft.graph.room?$top={top}&$skip={skip + top}"
        )
    return jsonify(body)

"""Calendar APIs: Google freeBusy, Graph getSchedule and Graph rooms (PROTOCOLS.md §1.7, §2.6).

Each needs a live access token of its provider carrying a scope that allows the call. Like
the real services, getSchedule returns subjects and locations of events: stripping them is
the gateway's job, and tests can prove it does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, jsonify, request

from emulator.errors import google_api_error, graph_error
from emulator.faults import current_state, endpoint
from emulator.records import CONSUMER_TENANT, Account, Event, Token

FREEBUSY_SCOPES = frozenset(
    "https://www.googleapis.com/auth/" + s
    for s in ("calendar", "calendar.events.freebusy", "calendar.freebusy", "calendar.readonly")
)
SCHEDULE_SCOPES = frozenset({"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"})
ROOM_SCOPES = frozenset({"Place.Read.All", "Place.ReadWrite.All"})
MAX_FREEBUSY_CALENDARS = 50
MAX_SCHEDULES = 20
# getSchedule's availabilityView digit per freeBusyStatus (workingElsewhere reads as free).
# Graph does not document a code for `unknown`: 4 (EWS's merged "no data") stands in, and an
# event's `view_code` plants any other.
VIEW_DIGIT = {"free": 0, "workingElsewhere": 0, "tentative": 1, "busy": 2, "oof": 3, "unknown": 4}
# The Windows zone names Graph clients send most; IANA names work as well.
WINDOWS_ZONES = {
    "UTC": "UTC",
    "Pacific Standard Time": "America/Los_Angeles",
    "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago",
    "Eastern Standard Time": "America/New_York",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "Tokyo Standard Time": "Asia/Tokyo",
}


def bearer(provider: str) -> tuple[Token, Account] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    state = current_state()
    token = state.live_token(value.strip(), "access")
    if token is None or token.provider != provider:
        return None
    account = state.accounts.get(token.account_key)
    return (token, account) if account is not None else None


def events_of(owner: str, calendar: str = "primary") -> list[Event]:
    state = current_state()
    with state.lock:
        return [e for e in state.events if e.owner == owner and e.calendar == calendar]


def rfc3339(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def zone(name: str | None) -> tzinfo | None:
    if not name:
        return UTC
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def merged_busy(events: Iterable[Event], start: datetime, end: datetime) -> list[tuple]:
    """Busy intervals (not `free`) clipped to the window and merged where they touch."""
    spans = sorted(
        (max(e.start, start), min(e.end, end))
        for e in events
        if e.show_as != "free" and e.start < end and e.end > start
    )
    merged: list[list[datetime]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


# -- Google freeBusy ---------------------------------------------------------------------


def google_time(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    if local.utcoffset() == timedelta(0):
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")


def bad_request(reason: str, message: str, location: str | None = None) -> Response:
    extra = {"locationType": "parameter", "location": location} if location else {}
    domain = "calendar" if reason.startswith("timeRange") else "global"
    return google_api_error(400, reason, message, domain=domain, **extra)


def google_calendar_events(owner: Account, calendar_id: str) -> list[Event] | None:
    """The events behind a freeBusy item id, or None when Google would say notFound."""
    state = current_state()
    cid = calendar_id.lower()
    if cid in ("primary", owner.email):
        return events_of(owner.email)
    if state.account("google", cid) is not None:
        return events_of(cid)
    with state.lock:
        found = [e for e in state.events if e.calendar.lower() == cid]
    return found or None


def freebusy() -> Response:
    found = bearer("google")
    if found is None:
        return google_api_error(
            401, "authError", "Invalid Credentials", locationType="header", location="Authorization"
        )
    token, owner = found
    if not FREEBUSY_SCOPES & set(token.scopes):
        return google_api_error(
            403, "insufficientPermissions", "Request had insufficient authentication scopes."
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return bad_request("parseError", "Parse Error")
    for name in ("timeMin", "timeMax"):
        if name not in body:
            return bad_request("required", "Required", name)
    start, end = rfc3339(body["timeMin"]), rfc3339(body["timeMax"])
    if start is None or end is None:
        return bad_request("invalid", "Bad Request", "timeMin" if start is None else "timeMax")
    if end <= start:
        return bad_request("timeRangeEmpty", "The specified time range is empty.", "timeMax")
    if end - start > timedelta(days=current_state().settings.freebusy_max_days):
        return bad_request("timeRangeTooLong", "The requested time range is too long.", "timeMax")
    tz = zone(body.get("timeZone"))
    if tz is None:
        return bad_request("invalid", "Invalid time zone.", "timeZone")
    items = body.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return bad_request("invalid", "Bad Request", "items")
    cap = min(
        _int(body.get("calendarExpansionMax"), MAX_FREEBUSY_CALENDARS), MAX_FREEBUSY_CALENDARS
    )
    calendars: dict[str, Any] = {}
    for index, item in enumerate(items):
        cid = str(item.get("id", ""))
        events = google_calendar_events(owner, cid) if index < cap else None
        if index >= cap:
            calendars[cid] = {
                "errors": [{"domain": "global", "reason": "tooManyCalendarsRequested"}],
                "busy": [],
            }
        elif events is None:
            calendars[cid] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
        else:
            calendars[cid] = {
                "busy": [
                    {"start": google_time(s, tz), "end": google_time(e, tz)}
                    for s, e in merged_busy(events, start, end)
                ]
            }
    return jsonify(
        {
            "kind": "calendar#freeBusy",
            "timeMin": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "timeMax": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "calendars": calendars,
        }
    )


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


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
    interval = _int(body.get("availabilityviewinterval"), 30)
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
    slots = math.ceil((end - start) / timedelta(minutes=interval))
    view = []
    for n in range(slots):
        slot_start = start + timedelta(minutes=interval * n)
        slot_end = min(slot_start + timedelta(minutes=interval), end)
        covering = [e for e in inside if e.start < slot_end and e.end > slot_start]
        planted = [e.view_code for e in covering if e.view_code is not None]
        digits = [VIEW_DIGIT[e.show_as] for e in covering if e.view_code is None]
        view.append(planted[0] if planted else str(max(digits, default=0)))
    return {
        "scheduleId": address,
        "availabilityView": "".join(view),
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


def rooms() -> Response:
    caller = graph_caller(ROOM_SCOPES)
    if isinstance(caller, Response):
        return caller
    _, owner = caller
    state = current_state()
    mine = [r for r in state.rooms if r["tenant"] == owner.tenant]
    top = _int(request.args.get("$top"), 100)
    skip = _int(request.args.get("$skip"), 0)
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


def create_blueprint() -> Blueprint:
    bp = Blueprint("calendar", __name__)

    @bp.post("/calendar/v3/freeBusy", strict_slashes=False)
    @endpoint("google.freebusy")
    def google_freebusy() -> Any:
        return freebusy()

    @bp.post("/calendar/v3/freeBusy/")
    @endpoint("google.freebusy")
    def google_freebusy_slash() -> Any:
        return freebusy()

    @bp.post("/v1.0/me/calendar/getSchedule")
    @endpoint("microsoft.getschedule")
    def graph_get_schedule() -> Any:
        return get_schedule()

    @bp.get("/v1.0/places/microsoft.graph.room")
    @endpoint("microsoft.rooms")
    def graph_rooms() -> Any:
        return rooms()

    return bp

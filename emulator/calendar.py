"""Calendar APIs: Google freeBusy here, Graph getSchedule and rooms in calendar_graph.py
(PROTOCOLS.md §1.7, §2.6); `create_blueprint` routes them all.

Each needs a live access token of its provider carrying a scope that allows the call. Like
the real services, getSchedule returns subjects and locations of events: stripping them is
the gateway's job, and tests can prove it does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.calendar_busy import bearer, events_of, int_or, merged_busy, rfc3339, zone
from emulator.calendar_graph import get_schedule, rooms
from emulator.errors import google_api_error
from emulator.faults import current_state, endpoint
from emulator.records import Account, Event

FREEBUSY_SCOPES = frozenset(
    "https://www.googleapis.com/auth/" + s
    for s in ("calendar", "calendar.events.freebusy", "calendar.freebusy", "calendar.readonly")
)
MAX_FREEBUSY_CALENDARS = 50


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
        int_or(body.get("calendarExpansionMax"), MAX_FREEBUSY_CALENDARS), MAX_FREEBUSY_CALENDARS
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

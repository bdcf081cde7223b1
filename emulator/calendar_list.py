"""Google calendarList.list: `GET /calendar/v3/users/me/calendarList` (calendar.v3.json).

Every Google account has three calendars, derived from its e-mail so that accounts added at
run time have them too and ids stay the same across restarts: its primary calendar (id = the
e-mail), a secondary calendar it owns (the kind a host keeps for one room), and a holiday
calendar it subscribes to and can only read. Paging (`maxResults`, `pageToken`), the
`minAccessRole` filter and sync tokens behave as the discovery document describes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.calendar import bearer
from emulator.errors import google_api_error
from emulator.faults import current_state, fault_response
from emulator.records import Account

ENDPOINT = "google.calendarlist"
# The scopes calendar.v3.json lists for calendarList.list.
LIST_SCOPES = frozenset(
    "https://www.googleapis.com/auth/" + s
    for s in (
        "calendar",
        "calendar.calendarlist",
        "calendar.calendarlist.readonly",
        "calendar.readonly",
    )
)
DEFAULT_PAGE, MAX_PAGE = 100, 250  # "By default ... 100 entries ... never larger than 250"
ROLES = ("freeBusyReader", "reader", "writerWithoutPrivateAccess", "writer", "owner")
TIME_ZONE = "Europe/Brussels"
HOLIDAYS_ID = "en.be#holiday@group.v.calendar.google.com"
CONFERENCING = {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}
NOTIFICATIONS = {
    "notifications": [
        {"type": kind, "method": "email"}
        for kind in ("eventCreation", "eventChange", "eventCancellation", "eventResponse")
    ]
}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def _etag(calendar_id: str) -> str:
    return '"' + str(int(_digest("etag", calendar_id)[:13], 16)) + '"'


def calendars_of(account: Account) -> list[dict[str, Any]]:
    """The account's calendar list entries, primary first, as Google shapes them."""
    room_id = f"c_{_digest('room', account.email)[:40]}@group.calendar.google.com"
    entries: list[dict[str, Any]] = [
        {
            "id": account.email,
            "summary": account.email,  # Google names a primary calendar after its address
            "timeZone": TIME_ZONE,
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "notificationSettings": NOTIFICATIONS,
            "primary": True,
            "conferenceProperties": CONFERENCING,
        },
        {
            "id": room_id,
            "summary": f"Meeting room of {account.name}",
            "description": "Bookings of the meeting room",
            "timeZone": TIME_ZONE,
            "colorId": "9",
            "backgroundColor": "#7bd148",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [],
            "dataOwner": account.email,
            "conferenceProperties": CONFERENCING,
        },
        {
            "id": HOLIDAYS_ID,
            "summary": "Holidays in Belgium",
            "description": "Holidays and Observances in Belgium",
            "timeZone": TIME_ZONE,
            "colorId": "8",
            "backgroundColor": "#16a765",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "reader",
            "defaultReminders": [],
            "conferenceProperties": CONFERENCING,
        },
    ]
    return [{"kind": "calendar#calendarListEntry", "etag": _etag(e["id"]), **e} for e in entries]


def calendar_ids(account: Account) -> tuple[str, ...]:
    """Ids of the account's calendars, e.g. for freeBusy to know them without events."""
    return tuple(e["id"] for e in calendars_of(account))


# -- page and sync tokens: opaque to clients, bound to the account and the filter -----------


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(token: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _owner_tag(account: Account) -> str:
    return _digest("owner", account.key)[:16]


def counted(view: Callable[[], Response]) -> Callable[[], Response]:
    """Count calls as `google.calendarlist` and apply its queued fault, like
    `faults.endpoint`, but with the Calendar API's error envelope for injected statuses
    (faults.py picks the envelope by name and knows `google.freebusy` as the Calendar API)."""

    @functools.wraps(view)
    def guarded() -> Response:
        fault = current_state().hit(ENDPOINT)
        if fault is not None:
            if fault.delay_ms > 0:
                time.sleep(fault.delay_ms / 1000)
            answer = fault_response("google.freebusy", fault)
            if answer is not None:
                return answer
        return view()

    return guarded


def _invalid(parameter: str, message: str) -> Response:
    return google_api_error(400, "invalid", message, locationType="parameter", location=parameter)


def _flag(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return False
    return {"true": True, "false": False}.get(raw.lower())


def calendar_list() -> Response:
    found = bearer("google")
    if found is None:
        return google_api_error(
            401, "authError", "Invalid Credentials", locationType="header", location="Authorization"
        )
    token, account = found
    if not LIST_SCOPES & set(token.scopes):
        return google_api_error(
            403, "insufficientPermissions", "Request had insufficient authentication scopes."
        )
    args = request.args
    try:
        size = min(int(args.get("maxResults", DEFAULT_PAGE)), MAX_PAGE)
    except ValueError:
        return _invalid("maxResults", "Invalid value for: maxResults")
    if size < 1:
        return _invalid("maxResults", "Invalid value for: maxResults")
    min_role = args.get("minAccessRole")
    if min_role is not None and min_role not in ROLES:
        return _invalid("minAccessRole", f"Invalid value for: minAccessRole ({min_role})")
    for name in ("showDeleted", "showHidden", "showOwnOrganizationOnly"):
        if _flag(name) is None:
            return _invalid(name, f"Invalid value for: {name}")

    owner = _owner_tag(account)
    sync_token = args.get("syncToken")
    if sync_token is not None:
        if min_role is not None or _flag("showOwnOrganizationOnly"):
            return _invalid(
                "syncToken", "minAccessRole and showOwnOrganizationOnly cannot be used with it"
            )
        sync = _decode(sync_token)
        if sync is None or sync.get("sync") != owner:
            message = "Sync token is no longer valid, a full sync is required."
            return google_api_error(410, "fullSyncRequired", message, domain="calendar")
        # The emulator's calendar lists never change: nothing since the last sync.
        return _page([], None, _encode({"sync": owner}))

    entries = calendars_of(account)
    if min_role is not None:
        floor = ROLES.index(min_role)
        entries = [e for e in entries if ROLES.index(e["accessRole"]) >= floor]
    query = _digest(owner, min_role or "")[:16]
    offset = 0
    if "pageToken" in args:
        page = _decode(args["pageToken"]) or {}
        offset = page.get("o", -1)
        if page.get("q") != query or not isinstance(offset, int) or offset < 0:
            return _invalid("pageToken", "Invalid page token value.")
    chunk = entries[offset : offset + size]
    if offset + size < len(entries):
        return _page(chunk, _encode({"o": offset + size, "q": query}), None)
    return _page(chunk, None, _encode({"sync": owner}))


def _page(items: list[dict[str, Any]], next_page: str | None, next_sync: str | None) -> Response:
    body: dict[str, Any] = {
        "kind": "calendar#calendarList",
        "etag": _etag("list:" + "|".join(i["id"] for i in items)),
    }
    if next_page is not None:
        body["nextPageToken"] = next_page
    if next_sync is not None:
        body["nextSyncToken"] = next_sync
    body["items"] = items
    return jsonify(body)


def create_blueprint() -> Blueprint:
    bp = Blueprint("calendar_list", __name__)
    bp.add_url_rule(
        "/calendar/v3/users/me/calendarList",
        endpoint="google_calendar_list",
        view_func=counted(calendar_list),
        methods=["GET"],
    )
    return bp

"""The control API's calendar seeding under /_emulator/: POST /events adds (or, with the same
id, replaces) an event in an account's or a room's calendar; its watchers hear of it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from emulator.control_input import BadInput, bad_input, body, moment, text
from emulator.faults import current_state
from emulator.push import announce
from emulator.records import Event

SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")

bp = Blueprint("control_events", __name__, url_prefix="/_emulator")
bp.register_error_handler(BadInput, bad_input)


def known_email(email: str) -> bool:
    state = current_state()
    rooms = {str(r["emailAddress"]).lower() for r in state.rooms}
    return bool(state.accounts_by_email(email)) or email.lower() in rooms


@bp.post("/events")
def add_event() -> Any:
    data = body()
    owner = str(text(data, "account")).lower()
    if not known_email(owner):
        raise BadInput(f"no account or room {owner!r}", "unknown_account")
    start, end = moment(data, "start"), moment(data, "end")
    if end <= start:
        raise BadInput("'end' must be after 'start'")
    show_as = data.get("show_as", "busy")
    if show_as not in SHOW_AS:
        raise BadInput(f"'show_as' must be one of {', '.join(SHOW_AS)}")
    view_code = data.get("view_code")
    if view_code is not None and (not isinstance(view_code, str) or len(view_code) != 1):
        raise BadInput("'view_code' must be one character (an availabilityView code)")
    attendees = data.get("attendees") or []
    if not isinstance(attendees, list) or not all(isinstance(a, str) for a in attendees):
        raise BadInput("'attendees' must be a list of e-mail addresses")
    given_id = text(data, "id", required=False)
    if given_id is not None and (len(given_id) > 128 or not given_id.isprintable()):
        raise BadInput("'id' must be at most 128 printable characters")
    extra = {"id": given_id} if given_id else {}
    event = Event(
        **extra,
        owner=owner,
        calendar=str(text(data, "calendar", required=False) or "primary"),
        start=start,
        end=end,
        summary=text(data, "summary", required=False),
        location=text(data, "location", required=False),
        attendees=tuple(attendees),
        show_as=str(show_as),
        description=text(data, "description", required=False),
        organizer=text(data, "organizer", required=False),
        view_code=view_code,
    )
    state = current_state()
    with state.lock:
        # an event with the same id is replaced, so a seeding script can run again
        before = next((e for e in state.events if e.id == event.id), None)
        state.events[:] = [*(e for e in state.events if e.id != event.id), event]
    announce(state, before, event)  # watchers hear of it, as from a real calendar
    return jsonify({"id": event.id}), 200 if before is not None else 201

"""Room availability for signed-in members: busy blocks only, as the booking frontend sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, render_template, request

from gateway.blueprints.guards import signed_in_uid
from gateway.context import services
from gateway.services.callers import user_caller
from gateway.services.intervals import SUPPORTED_RANGE, supported

availability = Blueprint("availability", __name__)


@availability.get("/rooms")
def rooms_page() -> str:
    uid = signed_in_uid()
    raw_day = request.args.get("day", "")
    try:
        day = datetime.strptime(raw_day, "%Y-%m-%d").replace(tzinfo=UTC) if raw_day else None
    except ValueError:
        abort(400, "day must be a date such as 2026-11-25")
    if day is not None and not supported(day):
        abort(400, f"day must lie {SUPPORTED_RANGE}")
    start = day or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    caller = user_caller(uid)
    found = services().freebusy
    rooms = found.visible_rooms(caller)
    answer = (
        found.query(caller, [r.id for r in rooms], start, start + timedelta(days=1))
        if rooms
        else None
    )
    return render_template(
        "rooms.html",
        rooms=rooms,
        answer=answer.rooms if answer else {},
        day=start.date().isoformat(),
    )

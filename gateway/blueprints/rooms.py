"""Pages for room hosts: connect calendars (up to five) to a room they host, or disconnect them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.blueprints.admin_rooms import room_service
from gateway.blueprints.guards import login_required, signed_in_uid
from gateway.context import services
from gateway.errors import error_response
from gateway.services.room_binding_views import BindingView
from gateway.services.room_bindings import MAX_CALENDARS
from gateway.services.room_calendars import PRIMARY
from gateway.services.room_model import RoomError

rooms = Blueprint("rooms", __name__, url_prefix="/rooms")

# The radio value that means "the mailbox address typed next to it"; never a calendar id.
TYPED = "@typed"
# Where a form may send the person back to: fixed pages, never a URL from the request.
BACK = {"account": "pages.account", "connect": "rooms.connect"}


@rooms.errorhandler(RoomError)
def refused(error: RoomError) -> Any:
    return error_response(error.status, error.code, error.message)


@rooms.get("/connect")
@login_required
def connect() -> str:
    uid = signed_in_uid()
    service = room_service()
    bound: dict[str, list[BindingView]] = {}
    for view in service.bindings_of(uid):
        bound.setdefault(view.room_id, []).append(view)
    hosted = service.hosted_by(uid)
    titles = {name: c.title for name, c in services().signin.connectors.items()}
    return render_template(
        "rooms_connect.html",
        rooms=hosted,
        bound=bound,
        choices=service.grant_choices(uid) if hosted else [],
        titles=titles,
        typed=TYPED,
        primary=PRIMARY,
        most=MAX_CALENDARS,
    )


@rooms.post("/<room_id>/bind")
@login_required
def bind(room_id: str) -> Response:
    calendar = request.form.get("calendar", PRIMARY)
    if calendar == TYPED:
        calendar = request.form.get("mailbox", "")
    service = room_service()
    service.bind(signed_in_uid(), room_id, request.form.get("grant", ""), calendar)
    flash(f"Calendar connected to {_name(room_id)}: members now see when it is busy.")
    return _back()


@rooms.post("/<room_id>/calendars")
@login_required
def add_calendar(room_id: str) -> Response:
    """One more calendar behind a room that has some (up to MAX_CALENDARS)."""
    calendar = request.form.get("calendar", PRIMARY)
    if calendar == TYPED:
        calendar = request.form.get("mailbox", "")
    service = room_service()
    service.add_calendar(signed_in_uid(), room_id, request.form.get("grant", ""), calendar)
    flash(f"Calendar added to {_name(room_id)}: it is busy whenever any of its calendars is.")
    return _back()


@rooms.post("/<room_id>/calendars/remove")
@login_required
def remove_calendar(room_id: str) -> Response:
    version = request.form.get("version", "")
    if room_service().remove_calendar(signed_in_uid(), room_id, version[:32]):
        flash(f"Calendar removed from {_name(room_id)}.")
    else:
        flash(f"{_name(room_id)} has no such calendar: nothing was changed.", "warning")
    return _back()


@rooms.post("/<room_id>/unbind")
@login_required
def unbind(room_id: str) -> Response:
    if room_service().unbind(signed_in_uid(), room_id):
        flash(f"Calendar disconnected from {_name(room_id)}: it shows “no calendar connected”.")
    else:
        flash(f"{_name(room_id)} had no calendar connected: nothing was changed.", "warning")
    return _back()


def _name(room_id: str) -> str:
    room = room_service().get(room_id)
    return room.name if room else room_id


def _back() -> Response:
    endpoint = BACK.get(request.form.get("back", ""), "rooms.connect")
    return redirect(url_for(endpoint), code=303)

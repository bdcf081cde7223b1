"""Pages for room hosts: connect one of their calendars to a room they host, or disconnect it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.blueprints.admin_rooms import room_service
from gateway.blueprints.guards import login_required, signed_in_uid
from gateway.context import services
from gateway.errors import error_response
from gateway.services.rooms import PRIMARY, RoomError

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
    bound = {b.room_id: b for b in service.bindings_of(uid)}
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
    )


@rooms.post("/<room_id>/bind")
@login_required
def bind(room_id: str) -> Response:
    calendar = request.form.get("calendar", PRIMARY)
    if calendar == TYPED:
        calendar = request.form.get("mailbox", "")
    room_service().bind(signed_in_uid(), room_id, request.form.get("grant", ""), calendar)
    return _back()


@rooms.post("/<room_id>/unbind")
@login_required
def unbind(room_id: str) -> Response:
    room_service().unbind(signed_in_uid(), room_id)
    return _back()


def _back() -> Response:
    endpoint = BACK.get(request.form.get("back", ""), "rooms.connect")
    return redirect(url_for(endpoint), code=303)

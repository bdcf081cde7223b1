"""Rooms created, changed and deleted by an admin in the browser.

The form (templates/admin_room_form.html) is read by services/room_form.py and saved through
RoomService, the same rules as the JSON API and the CLI. A mistake re-shows the form with
what was typed and a message at the field (400), and nothing is saved. Deleting asks first,
on a confirmation page (no script under the CSP). Every POST carries the CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.blueprints.guards import admin_required, signed_in_uid
from gateway.context import services
from gateway.errors import error_response
from gateway.services.admin_directory import QUERY_MAX
from gateway.services.callers import MEMBERS
from gateway.services.room_form import RoomForm, blank_form, field_of, read_form, room_form
from gateway.services.room_hours import time_zones
from gateway.services.room_model import WEEKDAYS, RoomError, RoomNotFound

admin_room_form = Blueprint("admin_room_form", __name__, url_prefix="/admin/rooms")


def _page(form: RoomForm, *, room_id: str | None, status: int = 200) -> tuple[str, int]:
    found = services().directory
    query = request.args.get("host_q", "")
    if len(query) > QUERY_MAX:
        abort(400, f"Keep the search under {QUERY_MAX} characters.")
    hosts = found.host_choices(query.strip(), form.values["host"], actor=signed_in_uid())
    # a host whose profile does not open (or who is gone) stays picked: saving the form
    # for another change must not drop the room's host and its calendar connection
    unlisted = form.values["host"] not in {p.id for p in hosts.people}
    return (
        render_template(
            "admin_room_form.html",
            form=form,
            room_id=room_id,
            weekdays=WEEKDAYS,
            zones=sorted(time_zones()),
            members=MEMBERS,
            audiences=found.audiences(),
            hosts=hosts,
            unlisted_host=form.values["host"] if unlisted else "",
        ),
        status,
    )


def _refused(form: RoomForm, error: RoomError) -> None:
    """A refusal of RoomService shown at its field, or at the top of the form."""
    form.errors[field_of(error.message) or "form"] = error.message


@admin_room_form.get("/new")
@admin_required
def new() -> tuple[str, int]:
    return _page(blank_form(), room_id=None)


@admin_room_form.post("/new")
@admin_required
def create() -> Response | tuple[str, int]:
    form, document = read_form(request.form, new=True)
    if not form.errors:
        try:
            room = services().rooms.create(document, actor=signed_in_uid())
        except RoomError as error:
            _refused(form, error)
        else:
            return redirect(url_for("admin.room", room_id=room.id, done="room-created"), code=303)
    return _page(form, room_id=None, status=400)


@admin_room_form.get("/<room_id>/edit")
@admin_required
def edit(room_id: str) -> tuple[str, int]:
    room = services().rooms.get(room_id)
    if room is None:
        raise RoomNotFound("There is no room with that id.")
    return _page(room_form(room, services().directory.audiences()), room_id=room.id)


@admin_room_form.post("/<room_id>/edit")
@admin_required
def update(room_id: str) -> Response | tuple[str, int]:
    if services().rooms.get(room_id) is None:
        raise RoomNotFound("There is no room with that id.")
    form, document = read_form(request.form, new=False)
    form.values["id"] = room_id
    if not form.errors:
        try:
            services().rooms.update(room_id, document, actor=signed_in_uid())
        except RoomError as error:
            _refused(form, error)
        else:
            return redirect(url_for("admin.room", room_id=room_id, done="room-saved"), code=303)
    return _page(form, room_id=room_id, status=400)


@admin_room_form.get("/<room_id>/delete")
@admin_required
def confirm_delete(room_id: str) -> str:
    room = services().rooms.get(room_id)
    if room is None:
        raise RoomNotFound("There is no room with that id.")
    consequences = [
        "Members and API clients no longer see it, nor its free/busy.",
        "Its calendar connection ends (the host's grant stays, for their other rooms).",
        "Its id can be used again for a new room.",
    ]
    return render_template(
        "confirm.html",
        title=f"Delete the room {room.name}?",
        area="Admin",
        lead="This cannot be undone.",
        consequences=consequences,
        action=url_for("admin_room_form.delete", room_id=room.id),
        button="Delete the room",
        button_id="delete-room",
        cancel=url_for("admin.room", room_id=room.id),
    )


@admin_room_form.post("/<room_id>/delete")
@admin_required
def delete(room_id: str) -> Response:
    services().rooms.delete(room_id, actor=signed_in_uid())
    return redirect(url_for("admin_lists.rooms", done="room-deleted"), code=303)


@admin_room_form.errorhandler(RoomNotFound)
def not_found(error: RoomNotFound) -> Any:
    return error_response(error.status, error.code, error.message)

"""The admin JSON API for the room registry: /v1/admin/rooms.

It runs on the admin's session cookie, so CSRF protection stays on: POST, PATCH and DELETE
carry the token in the `X-CSRFToken` header (Flask-WTF's default header).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from gateway.blueprints.guards import admin_required, signed_in_uid
from gateway.context import services
from gateway.errors import error_response
from gateway.services.room_model import InvalidRoom, RoomError, room_json
from gateway.services.rooms import RoomService

admin_rooms = Blueprint("admin_rooms", __name__, url_prefix="/v1/admin/rooms")


def room_service() -> RoomService:
    """The app's RoomService (`Services.rooms`)."""
    found: RoomService = services().rooms
    return found


@admin_rooms.errorhandler(RoomError)
def refused(error: RoomError) -> Any:
    return error_response(error.status, error.code, error.message)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRoom("send a JSON object (Content-Type: application/json)")
    return body


@admin_rooms.post("")
@admin_required
def create() -> tuple[Response, int]:
    room = room_service().create(_body(), actor=signed_in_uid())
    response = jsonify(room_json(room, bound=False))
    response.headers["Location"] = f"/v1/admin/rooms/{room.id}"
    return response, 201


@admin_rooms.get("")
@admin_required
def list_rooms() -> Response:
    rooms = room_service()
    return jsonify(rooms=[room_json(r, bound=rooms.is_bound(r.id)) for r in rooms.all()])


@admin_rooms.get("/<room_id>")
@admin_required
def show(room_id: str) -> Response:
    rooms = room_service()
    return jsonify(room_json(rooms.require(room_id), bound=rooms.is_bound(room_id)))


@admin_rooms.get("/<room_id>/calendars")
@admin_required
def calendars(room_id: str) -> Response:
    """The calendars behind a room (up to five): provider, grant, since; nothing opened."""
    rooms = room_service()
    rooms.require(room_id)
    return jsonify(room=room_id, calendars=rooms.calendars_behind(room_id))


@admin_rooms.patch("/<room_id>")
@admin_required
def update(room_id: str) -> Response:
    rooms = room_service()
    room = rooms.update(room_id, _body(), actor=signed_in_uid())
    return jsonify(room_json(room, bound=rooms.is_bound(room_id)))


@admin_rooms.delete("/<room_id>")
@admin_required
def delete(room_id: str) -> tuple[str, int]:
    room_service().delete(room_id, actor=signed_in_uid())
    return "", 204

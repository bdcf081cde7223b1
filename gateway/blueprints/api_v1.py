"""The booking API (/v1): rooms, free/busy and free slots, for API clients and members.

Who is asking: `Authorization: Bearer <client secret>` makes an API client the caller (a
header that is there but not a valid, enabled credential is a 401, with no fallback to the
session); without the header, a signed-in session makes the user the caller. The blueprint
is CSRF-exempt in the app factory because a Bearer request carries no cookie authority; a
session caller's unsafe request (POST /v1/freebusy) must still send the session's CSRF
token in `X-CSRFToken`, which `_authenticate` checks with Flask-WTF itself.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from werkzeug.wrappers import Response

from gateway.api_reference import inline_markdown, readable_operations, schema_shape
from gateway.blueprints.api_caller import caller, request_caller, unauthorized
from gateway.blueprints.api_models import (
    FreeBusyQuery,
    FreeBusyRequest,
    FreeBusyResponse,
    RoomList,
    RoomSearchRequest,
    RoomSearchResponse,
    SlotsQuery,
    SlotsResponse,
)
from gateway.context import services
from gateway.errors import error_response
from gateway.openapi import Operation, build_document, documented
from gateway.openapi_examples import operation_examples
from gateway.openapi_routes import OTHER_ROUTES
from gateway.openapi_webhooks import add_webhooks
from gateway.security import runs_own_scripts
from gateway.services.freebusy_answer import MAX_DAYS, MAX_ROOMS, FreeBusyError
from gateway.services.intervals import rfc3339
from gateway.services.room_model import Room, describe
from gateway.services.room_search import RoomFilter, RoomSearch

api_v1 = Blueprint("api_v1", __name__)

API_VERSION = "1.0.0"
PUBLIC_ENDPOINTS = frozenset({"api_v1.openapi_json", "api_v1.api_page"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# -- who is asking (api_caller.py) -----------------------------------------------------------
@api_v1.before_request
def _authenticate() -> Any:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    found = request_caller()
    if found is None:
        return unauthorized()
    if found.kind == "user" and request.method not in SAFE_METHODS:
        try:
            current_app.extensions["csrf"].protect()
        except CSRFError:
            return error_response(
                400,
                "csrf_failed",
                "A signed-in session must send its CSRF token in the X-CSRFToken header "
                "(or use a Bearer credential).",
            )
    return None


@api_v1.errorhandler(FreeBusyError)
def _refused(error: FreeBusyError) -> Any:
    return error_response(error.status, error.code, error.message)


def _invalid(error: ValidationError) -> Any:
    return error_response(400, "invalid_request", describe(error))


# -- routes ---------------------------------------------------------------------------------
def _room_out(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "name": room.name,
        "location": room.location,
        "timeZone": room.time_zone,
        "hours": room.hours,
        "exceptions": [e.model_dump() for e in room.exceptions],
        "capacity": room.capacity,
        "equipment": room.equipment,
    }


@api_v1.get("/v1/rooms")
@documented(
    Operation(
        summary="Rooms the caller may see",
        description="Name, location, time zone and bookable hours; never the host.",
        response=RoomList,
    )
)
def list_rooms() -> Response:
    rooms = services().freebusy.visible_rooms(caller())
    return jsonify(rooms=[_room_out(r) for r in sorted(rooms, key=lambda r: r.id)])


@api_v1.post("/v1/rooms/search")
@documented(
    Operation(
        summary="Rooms free for a whole span",
        description="The rooms the caller may see that are bookable for all of "
        f"[timeMin, timeMax) (weekly hours and date exceptions; up to {MAX_DAYS} days) and "
        "have no busy time in it, filtered by capacity, location and equipment. A room "
        "whose calendar cannot be read (unknown, needs_reconnect, unbound, restricted) is "
        "never offered.",
        body=RoomSearchRequest,
        response=RoomSearchResponse,
        errors=(400, 503),
    )
)
def search_rooms() -> Any:
    try:
        query = RoomSearchRequest.model_validate_json(request.get_data() or b"null")
    except ValidationError as error:
        return _invalid(error)
    wanted = RoomFilter(query.capacity, query.location or "", tuple(query.equipment))
    found = RoomSearch(services().freebusy).search(caller(), query.time_min, query.time_max, wanted)
    return jsonify(
        {
            "timeMin": rfc3339(query.time_min),
            "timeMax": rfc3339(query.time_max),
            "rooms": [
                {**_room_out(s.room), "stale": s.stale, "asOf": _stamp(s.as_of)} for s in found
            ],
        }
    )


@api_v1.post("/v1/freebusy")
@documented(
    Operation(
        summary="Busy time of many rooms",
        description=f"Up to {MAX_ROOMS} rooms over up to {MAX_DAYS} days. Busy time is "
        "clipped to each room's bookable hours. A room that does not exist or is not "
        "visible to the caller makes the whole call a 404, the same for both.",
        body=FreeBusyRequest,
        response=FreeBusyResponse,
        errors=(400, 404, 503),
    )
)
def freebusy() -> Any:
    try:
        query = FreeBusyRequest.model_validate_json(request.get_data() or b"null")
    except ValidationError as error:
        return _invalid(error)
    answer = services().freebusy.query(
        caller(), query.rooms, query.time_min, query.time_max, query.granularity
    )
    return current_app.response_class(answer.encoded, mimetype="application/json")


@api_v1.get("/v1/freebusy")
@documented(
    Operation(
        summary="Busy time of many rooms, for a frontend that polls",
        description="The same query and answer as the POST form, as query parameters "
        "(`rooms` repeated or comma-separated). The answer has a strong `ETag`: send it back "
        "in `If-None-Match` and the answer is *Not Modified*, with no body, until something "
        "in it changed.",
        query=FreeBusyQuery,
        response=FreeBusyResponse,
        errors=(400, 404, 503),
    )
)
def freebusy_get() -> Any:
    try:
        query = FreeBusyRequest.model_validate(_freebusy_arguments())
    except ValidationError as error:
        return _invalid(error)
    who = caller()
    answer = services().freebusy.query(
        who, query.rooms, query.time_min, query.time_max, query.granularity
    )
    # over the caller too: two callers' equal answers never share a validator
    digest = hashlib.sha256(f"{who.kind}:{who.id}\n{answer.encoded}".encode()).hexdigest()
    response = current_app.response_class(answer.encoded, mimetype="application/json")
    response.set_etag(digest[:32])
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


def _freebusy_arguments() -> dict[str, Any]:
    """The query string as the POST body would say it: rooms repeated or comma-separated,
    granularity a number when it is written as one (pydantic then names what is wrong)."""
    found: dict[str, Any] = {}
    for name in request.args:
        values = request.args.getlist(name)
        if name == "rooms":
            found[name] = [r for value in values for r in value.split(",")]
        elif len(values) != 1:
            found[name] = values  # pydantic refuses a list where one value belongs
        elif name == "granularity" and values[0].isascii() and values[0].isdigit():
            found[name] = int(values[0])
        else:
            found[name] = values[0]
    return found


@api_v1.get("/v1/rooms/<room_id>/slots")
@documented(
    Operation(
        summary="Free slots of one room",
        description="Gaps of at least `duration` minutes inside the room's bookable hours. "
        "A room whose calendar cannot be read has status `unknown` and no slots; one with no "
        "calendar connected, `unbound`; one whose host must connect again, `needs_reconnect`.",
        query=SlotsQuery,
        response=SlotsResponse,
        errors=(400, 404, 503),
    )
)
def slots(room_id: str) -> Any:
    try:
        query = SlotsQuery.model_validate(request.args.to_dict())
    except ValidationError as error:
        return _invalid(error)
    found, free = services().freebusy.slots(
        caller(), room_id, query.start, query.end, timedelta(minutes=query.duration)
    )
    return jsonify(
        {
            "room": room_id,
            "from": rfc3339(query.start),
            "to": rfc3339(query.end),
            "duration": query.duration,
            "status": found.status,
            "stale": found.stale,
            "asOf": _stamp(found.as_of),
            "slots": [i.as_json() for i in free],
        }
    )


def _stamp(timestamp: float | None) -> str | None:
    return rfc3339(datetime.fromtimestamp(timestamp, UTC)) if timestamp else None


# -- the document ---------------------------------------------------------------------------
def openapi_document() -> dict[str, Any]:
    """Built once per app: routes do not change after start."""
    cache = current_app.extensions.setdefault("api_v1", {})
    if "openapi" not in cache:
        cache["openapi"] = add_webhooks(
            build_document(
                current_app,
                title="Consent gateway API",
                version=API_VERSION,
                description="Rooms, free/busy and free slots for booking frontends. Errors are "
                '`{"error": code, "message": text}`. Each caller has a rate limit (an API '
                "client its own, a signed-in user and an anonymous address a fixed one).",
                extra=OTHER_ROUTES,
                examples=operation_examples(),
                session_cookie=getattr(current_app.session_interface, "cookie_name", "gw_session"),
                body_limit=current_app.config["MAX_CONTENT_LENGTH"],
            )
        )
    document: dict[str, Any] = cache["openapi"]
    return document


@api_v1.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(openapi_document())


@api_v1.get("/api")
@runs_own_scripts  # Swagger UI from the static folder; every other page runs no script
def api_page() -> str:
    document = openapi_document()
    return render_template(
        "api_docs.html",
        document=document,
        operations=readable_operations(document),
        schemas=document["components"]["schemas"],
        markdown=inline_markdown,
        shape=schema_shape,
    )

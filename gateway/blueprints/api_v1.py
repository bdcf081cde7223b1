"""The booking API (/v1): rooms, free/busy and free slots, for API clients and members.

Who is asking: `Authorization: Bearer <client secret>` makes an API client the caller (a
header that is there but not a valid, enabled credential is a 401, with no fallback to the
session); without the header, a signed-in session makes the user the caller. The blueprint
is CSRF-exempt in the app factory because a Bearer request carries no cookie authority; a
session caller's unsafe request (POST /v1/freebusy) must still send the session's CSRF
token in `X-CSRFToken`, which `_authenticate` checks with Flask-WTF itself.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from flask import Blueprint, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from werkzeug.wrappers import Response

from gateway.api_reference import inline_markdown, readable_operations, schema_shape
from gateway.blueprints.guards import current_uid
from gateway.context import services
from gateway.errors import StorageError, error_response
from gateway.openapi import Operation, build_document, documented
from gateway.openapi_examples import operation_examples
from gateway.openapi_routes import OTHER_ROUTES
from gateway.security import runs_own_scripts
from gateway.services.callers import Caller, user_caller
from gateway.services.freebusy_answer import (
    GRANULARITIES,
    MAX_DAYS,
    MAX_ROOMS,
    FreeBusyError,
)
from gateway.services.intervals import SUPPORTED_RANGE, rfc3339, supported
from gateway.services.room_hours import Capacity, DateException, Equipment
from gateway.services.room_model import ROOM_ID, Room, Weekday, describe
from gateway.services.room_search import RoomFilter, RoomSearch
from gateway.services.room_status import RoomStatus
from gateway.services.room_status import described as status_words

api_v1 = Blueprint("api_v1", __name__)

API_VERSION = "1.0.0"
PUBLIC_ENDPOINTS = frozenset({"api_v1.openapi_json", "api_v1.api_page"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
TIME_EXAMPLE = "2025-03-03T09:00:00Z"
MIN_DURATION, MAX_DURATION = 5, 480


# -- who is asking --------------------------------------------------------------------------
def request_caller() -> Caller | None:
    """The caller of this request, resolved once (the rate limiter asks first).

    A storage failure is remembered as well: the limiter asks several times and then the
    view, and each asking a hung Redis again would stack their timeouts far past 2 s.
    """
    if "api_caller_error" in g:
        raise g.api_caller_error
    if "api_caller" not in g:
        try:
            g.api_caller = _resolve_caller()
        except StorageError as error:
            g.api_caller_error = error
            raise
    found: Caller | None = g.api_caller
    return found


def bearer_presented() -> bool:
    return "Authorization" in request.headers


def _resolve_caller() -> Caller | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        return services().clients.authenticate(secret.strip())
    uid = current_uid()
    return user_caller(uid) if uid else None


def _unauthorized() -> tuple[Response | str, int, dict[str, str]]:
    if bearer_presented():
        # RFC 6750 §3.1: the same answer for unknown, wrong, disabled or malformed.
        challenge = 'Bearer realm="gateway", error="invalid_token"'
        message = "The credential is not valid."
    else:
        challenge = 'Bearer realm="gateway"'
        message = "Send 'Authorization: Bearer <client secret>', or sign in."
    body, status = error_response(401, "unauthorized", message)
    return body, status, {"WWW-Authenticate": challenge}


@api_v1.before_request
def _authenticate() -> Any:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    caller = request_caller()
    if caller is None:
        return _unauthorized()
    if caller.kind == "user" and request.method not in SAFE_METHODS:
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


def caller() -> Caller:
    found = request_caller()
    assert found is not None  # _authenticate answered 401 otherwise
    return found


@api_v1.errorhandler(FreeBusyError)
def _refused(error: FreeBusyError) -> Any:
    return error_response(error.status, error.code, error.message)


def _invalid(error: ValidationError) -> Any:
    return error_response(400, "invalid_request", describe(error))


# -- models: what the API takes and returns ----------------------------------------------------
def _moment(value: Any) -> Any:
    """RFC 3339 with an offset (Z or +hh:mm), nothing looser: no dates, numbers or naive times."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError(f"must be an RFC 3339 date-time with an offset, e.g. {TIME_EXAMPLE}")
    moment = datetime.fromisoformat(value.upper())
    if not supported(moment):
        raise ValueError(f"must lie {SUPPORTED_RANGE}")
    return moment


class FreeBusyRequest(BaseModel):
    """Busy time of many rooms over a span of days (the limits are in the fields)."""

    model_config = ConfigDict(extra="forbid")

    rooms: list[str] = Field(
        description=f"Room ids, 1 to {MAX_ROOMS}, each once.",
        json_schema_extra={
            "items": {"type": "string", "pattern": ROOM_ID.pattern},
            "minItems": 1,
            "maxItems": MAX_ROOMS,
            "uniqueItems": True,
        },
    )
    time_min: datetime = Field(alias="timeMin", description="Start, RFC 3339 with an offset.")
    time_max: datetime = Field(alias="timeMax", description="End (exclusive), after timeMin.")
    granularity: int = Field(
        default=0,
        strict=True,  # as Capacity: JSON false is not 0 (the examples' test sent it)
        description="Round busy time outward to this many minutes (0: exact).",
        json_schema_extra={"enum": list(GRANULARITIES)},
    )

    rfc3339_times = field_validator("time_min", "time_max", mode="before")(_moment)

    @field_validator("rooms")
    @classmethod
    def _rooms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one room")
        if len(value) > MAX_ROOMS:
            raise ValueError(f"at most {MAX_ROOMS} rooms per call, got {len(value)}")
        for room_id in value:
            if not ROOM_ID.match(room_id):
                raise ValueError(f"{room_id[:70]!r} is not a room id (a-z, 0-9, '-')")
        if len(set(value)) != len(value):
            twice = sorted({r for r in value if value.count(r) > 1})
            raise ValueError(f"each room once: {', '.join(twice)} named more than once")
        return value

    @field_validator("granularity")
    @classmethod
    def _granularity(cls, value: int) -> int:
        if value not in GRANULARITIES:
            raise ValueError(f"must be one of {', '.join(map(str, GRANULARITIES))}")
        return value

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.time_min, self.time_max, "timeMin", "timeMax")
        return self


class SlotsQuery(BaseModel):
    """Free slots of at least `duration` minutes inside the room's bookable hours."""

    model_config = ConfigDict(extra="forbid")

    start: datetime = Field(alias="from", description="Start, RFC 3339 with an offset.")
    end: datetime = Field(alias="to", description="End (exclusive), after `from`.")
    duration: int = Field(
        ge=MIN_DURATION, le=MAX_DURATION, description="Minutes a slot must last at least."
    )

    rfc3339_times = field_validator("start", "end", mode="before")(_moment)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.start, self.end, "from", "to")
        return self


def _check_window(start: datetime, end: datetime, first: str, last: str) -> None:
    if end <= start:
        raise ValueError(f"{last} must be after {first}")
    if end - start > timedelta(days=MAX_DAYS):
        raise ValueError(f"at most {MAX_DAYS} days from {first} to {last}")


class RoomSearchRequest(BaseModel):
    """Rooms free for the whole span, bookable all of it, with what the caller needs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "timeMin": "2026-12-24T09:00:00+01:00",
                    "timeMax": "2026-12-24T10:00:00+01:00",
                    "capacity": 6,
                    "location": "Ghent",
                    "equipment": ["projector"],
                }
            ]
        },
    )

    time_min: datetime = Field(alias="timeMin", description="Start, RFC 3339 with an offset.")
    time_max: datetime = Field(alias="timeMax", description="End (exclusive), after timeMin.")
    capacity: Capacity | None = Field(default=None, description="At least this many seats.")
    location: str | None = Field(
        default=None, max_length=200, description="Part of the room's location (any case)."
    )
    equipment: Equipment = Field(
        default_factory=list, description='Every one of these (any case), e.g. ["projector"].'
    )

    rfc3339_times = field_validator("time_min", "time_max", mode="before")(_moment)

    @model_validator(mode="after")
    def _window(self) -> Self:
        _check_window(self.time_min, self.time_max, "timeMin", "timeMax")
        return self


class RoomOut(BaseModel):
    """A bookable room as callers see it: never its host or calendar."""

    id: str
    name: str
    location: str
    time_zone: str = Field(alias="timeZone", description="IANA time zone.")
    hours: dict[Weekday, list[list[str]]] = Field(
        description='Bookable hours, local time: {"monday": [["09:00", "17:00"]], ...}.'
    )
    exceptions: list[DateException] = Field(
        description="Local dates whose hours replace the weekly ones ([]: closed that day)."
    )
    capacity: int | None = Field(description="Seats, when the registry says.")
    equipment: list[str]


class RoomList(BaseModel):
    rooms: list[RoomOut]


class FreeRoom(RoomOut):
    stale: bool = Field(description="Judged from an older cached answer.")
    as_of: str | None = Field(
        alias="asOf", description="When the calendar was read (RFC 3339, UTC)."
    )


class RoomSearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "timeMin": "2026-12-24T08:00:00Z",
                    "timeMax": "2026-12-24T09:00:00Z",
                    "rooms": [
                        {
                            "id": "blue",
                            "name": "Blue room",
                            "location": "Ghent, 2nd floor",
                            "timeZone": "Europe/Brussels",
                            "hours": {"thursday": [["08:00", "18:00"]]},
                            "exceptions": [{"date": "2026-12-24", "hours": [["08:00", "12:00"]]}],
                            "capacity": 8,
                            "equipment": ["projector"],
                            "stale": False,
                            "asOf": "2026-12-24T07:58:12Z",
                        }
                    ],
                }
            ]
        }
    )

    time_min: str = Field(alias="timeMin")
    time_max: str = Field(alias="timeMax")
    rooms: list[FreeRoom] = Field(description="By id; only rooms free for the whole span.")


STATUS_DESCRIPTION = (
    "Why the room has or lacks busy times; only `ok` carries them, and no other status "
    "ever means free. " + status_words()
)


class Span(BaseModel):
    start: str = Field(description="RFC 3339, UTC (Z).")
    end: str = Field(description="RFC 3339, UTC (Z).")


class RoomBusy(BaseModel):
    busy: list[Span]
    status: RoomStatus = Field(description=STATUS_DESCRIPTION)
    stale: bool = Field(description="Served from an older cached answer.")
    as_of: str | None = Field(
        alias="asOf", description="When the calendar was read (RFC 3339, UTC)."
    )


class FreeBusyResponse(BaseModel):
    time_min: str = Field(alias="timeMin")
    time_max: str = Field(alias="timeMax")
    rooms: dict[str, RoomBusy]


class SlotsResponse(BaseModel):
    room: str
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    duration: int
    status: RoomStatus = Field(description=STATUS_DESCRIPTION)
    stale: bool
    as_of: str | None = Field(alias="asOf")
    slots: list[Span]


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
        cache["openapi"] = build_document(
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

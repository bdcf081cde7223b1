"""The routes under /v1 that other blueprints serve (/v1/me, the processing register, the
privacy API, the admin rooms and webhooks APIs), described by endpoint for
gateway/openapi.py, so the document is whole although those views carry no `@documented`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gateway.openapi import Operation
from gateway.services.room_hours import Capacity, DateException, Equipment
from gateway.services.room_model import RoomSpec, Weekday


class Me(BaseModel):
    """The signed-in user (route of the `api` blueprint)."""

    id: str
    name: str | None
    email: str | None
    created: str
    identities: list[dict[str, Any]]


class AdminRoom(RoomSpec):
    """A room as administrators see it (routes of the `admin_rooms` blueprint)."""

    created: str
    updated: str
    bound: bool


class AdminRoomList(BaseModel):
    rooms: list[AdminRoom]


class AdminRoomCalendar(BaseModel):
    """One calendar behind a room, as administrators see it: never its id or name."""

    provider: str
    grant: str
    grantStatus: str
    since: str


class AdminRoomCalendars(BaseModel):
    room: str
    calendars: list[AdminRoomCalendar]


class AdminWebhook(BaseModel):
    """An API client's webhook (route of the `admin_webhooks` blueprint): never its secret,
    which is shown once, when it is registered."""

    client: str
    url: str
    created: str
    events: list[str]


class AdminDelivery(BaseModel):
    """One delivery of an event to a client's webhook: its outcome, never the event's data.
    `answer` is `ok`, the receiver's HTTP status, or why nothing was answered (e.g. a
    timeout); `status` is delivered, retrying or failed."""

    id: str
    type: str
    room: str | None
    at: str
    status: str
    answer: str
    attempts: int


class AdminDeliveries(BaseModel):
    client: str
    deliveries: list[AdminDelivery]


class RoomChanges(BaseModel):
    """The fields of a room to change; the id cannot change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    location: str | None = None
    time_zone: str | None = None
    hours: dict[Weekday, list[list[str]]] | None = None
    exceptions: list[DateException] | None = None
    capacity: Capacity | None = None
    equipment: Equipment | None = None
    host: str | None = None
    visibility: list[str] | None = None


class Restriction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restricted: bool


def _admin(summary: str, **described: Any) -> Operation:
    return Operation(
        summary=summary,
        description="Administrators only, on their session; unsafe methods need the "
        "X-CSRFToken header.",
        auth=("session",),
        rate_limited=False,
        tag="admin",
        **described,
    )


OTHER_ROUTES = {
    "api.me": Operation(
        summary="The signed-in user",
        description="Only for a signed-in browser session; API clients have no user.",
        response=Me,
        auth=("session",),
        rate_limited=False,
        tag="account",
    ),
    "register.register_json": Operation(
        summary="The record of processing",
        description="Purposes, data categories, legal bases, recipients and retention "
        "(GDPR Art. 30), as a JSON object; public.",
        auth=(),
        rate_limited=False,
        tag="privacy",
    ),
    "privacy.export": Operation(
        summary="Export your data",
        description="Everything the gateway holds about the signed-in user, as JSON "
        "(GDPR Art. 15 and 20); `?download=1` makes it an attachment.",
        auth=("session",),
        rate_limited=False,
        tag="account",
    ),
    "privacy.erase_json": Operation(
        summary="Erase your data",
        description="Revokes every grant and deletes everything of the signed-in user (GDPR "
        "Art. 17); answers with a receipt. Needs the X-CSRFToken header.",
        auth=("session",),
        rate_limited=False,
        tag="account",
    ),
    "privacy.restriction_json": Operation(
        summary="Restrict processing of your data",
        description='`{"restricted": true}` stops processing while the data is kept (GDPR '
        "Art. 18); false lifts it. Needs the X-CSRFToken header.",
        body=Restriction,
        response=Restriction,
        errors=(400,),
        auth=("session",),
        rate_limited=False,
        tag="account",
    ),
    "admin_rooms.create": _admin(
        "Add a room", body=RoomSpec, response=AdminRoom, errors=(400, 403, 409), success=201
    ),
    "admin_rooms.list_rooms": _admin("Every room", response=AdminRoomList, errors=(403,)),
    "admin_rooms.show": _admin("One room", response=AdminRoom, errors=(403, 404)),
    "admin_rooms.calendars": _admin(
        "The calendars behind a room (up to five)", response=AdminRoomCalendars, errors=(403, 404)
    ),
    "admin_rooms.update": _admin(
        "Change a room", body=RoomChanges, response=AdminRoom, errors=(400, 403, 404)
    ),
    "admin_rooms.delete": _admin("Delete a room and its binding", errors=(403, 404), success=204),
    "admin_webhooks.webhook": _admin(
        "An API client's webhook (never its secret)", response=AdminWebhook, errors=(403, 404)
    ),
    "admin_webhooks.deliveries": _admin(
        "The last deliveries to an API client's webhook, newest first",
        response=AdminDeliveries,
        errors=(403, 404),
    ),
}

"""The change feed's events in the OpenAPI document (its `webhooks`, OpenAPI 3.1): what an
API client's webhook receives (services/change_feed.py), from the same models the tests
check the events against, signed as the Standard Webhooks specification says."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from gateway.openapi import REF_TEMPLATE
from gateway.services.change_feed import AVAILABILITY_CHANGED, STATUS_CHANGED
from gateway.services.room_status import RoomStatus

AT = "2026-11-25T08:58:12.407Z"


class ChangedSpan(BaseModel):
    room: str
    start: str = Field(description="Start of the span that may have changed (RFC 3339, UTC).")
    end: str = Field(description="Its end, exclusive (RFC 3339, UTC).")


class AvailabilityChanged(BaseModel):
    """A room's busy time may have changed within a span: ask the booking API again."""

    type: Literal["room.availability.changed"]
    timestamp: str = Field(
        description="When the change was seen (RFC 3339, UTC, to the millisecond). Deliveries "
        "run in parallel and are retried: order a room's events by this, not by arrival."
    )
    data: ChangedSpan


class StatusNow(BaseModel):
    room: str
    status: RoomStatus


class StatusChanged(BaseModel):
    """A room's status changed (its calendar unbound, refused, restricted, or back to ok)."""

    type: Literal["room.status.changed"]
    timestamp: str = Field(
        description="When the change was seen (RFC 3339, UTC, to the millisecond). Deliveries "
        "run in parallel and are retried: order a room's events by this, not by arrival."
    )
    data: StatusNow


EVENTS: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    AVAILABILITY_CHANGED: (
        AvailabilityChanged,
        {
            "type": AVAILABILITY_CHANGED,
            "timestamp": AT,
            "data": {
                "room": "blue",
                "start": "2026-11-25T00:00:00Z",
                "end": "2026-11-26T00:00:00Z",
            },
        },
    ),
    STATUS_CHANGED: (
        StatusChanged,
        {"type": STATUS_CHANGED, "timestamp": AT, "data": {"room": "blue", "status": "unbound"}},
    ),
}
HEADERS = {
    "webhook-id": ("The event's id, the same on every retry: drop one seen before.", "msg_x"),
    "webhook-timestamp": ("When it was sent (Unix seconds): refuse an old one.", "1764061092"),
    "webhook-signature": (
        "The signature of id, timestamp and body under the webhook's secret; check it with "
        "any Standard Webhooks library.",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    ),
}


def add_webhooks(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the change feed's events as its `webhooks` and their schemas."""
    wanted = [(model, "validation") for model, _ in EVENTS.values()]
    refs, definitions = models_json_schema(wanted, ref_template=REF_TEMPLATE)  # type: ignore[arg-type]
    document["components"]["schemas"].update(definitions.get("$defs", {}))
    document["webhooks"] = {
        name: {"post": _event(name, refs[(model, "validation")], example)}
        for name, (model, example) in EVENTS.items()
    }
    return document


def _event(name: str, schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": name.replace(".", "_"),
        "summary": f"The change feed: {name}",
        "description": "Sent to an API client's webhook (an admin sets it; its secret is "
        "shown once) for each room the client may see. No event of the calendar is in it. "
        "A success status takes it; anything else is sent again, later each time.",
        "tags": ["change feed"],
        "parameters": [
            {
                "name": header,
                "in": "header",
                "required": True,
                "description": words,
                "schema": {"type": "string"},
                "example": example_value,
            }
            for header, (words, example_value) in HEADERS.items()
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": example}},
        },
        "responses": {"2XX": {"description": "Taken."}},
        "security": [],
    }

"""Examples of the admin JSON API (/v1/admin/rooms, /v1/admin/clients), in the world of
gateway/openapi_examples.py: rooms `blue` and `green`, and the seeded booking client, whose
id is fixed (tests/fuzz/conftest.py) so that its examples are sent as written and answered."""

from __future__ import annotations

from gateway.openapi_examples import (
    AS_OF,
    BLUE_AS_ADMIN,
    CHRISTMAS,
    CHRISTMAS_EVE,
    VIOLET_SPEC,
    Examples,
)
from gateway.services.change_feed import EVENTS

FRONT_CLIENT = "0f1e2d3c4b5a"  # pragma: allowlist secret (booking client id, with a webhook)
KIOSK_CLIENT = "decafbadcafe"  # the seeded kiosk client: none (no digit: it is in prose)
HOOK_URL = "https://booking.example.com/hooks/rooms"
NO_CLIENT = ("client_not_found", "there is no API client 'nowhere'")

ADMIN_EXAMPLES: dict[str, Examples] = {
    "admin_rooms.create": Examples(
        request=VIOLET_SPEC,
        response={**VIOLET_SPEC, "created": AS_OF, "updated": AS_OF, "bound": False},
        errors={
            400: {
                "bad_id": (
                    "invalid_room",
                    "id: must be 1 to 64 lower-case letters, digits or hyphens",
                )
            },
            409: {"exists": ("room_exists", "a room with id 'blue' exists already")},
        },
    ),
    "admin_rooms.list_rooms": Examples(response={"rooms": [BLUE_AS_ADMIN]}),
    "admin_rooms.show": Examples(
        parameters={"room_id": "blue"},
        response=BLUE_AS_ADMIN,
        errors={404: {"no_such_room": ("room_not_found", "there is no room 'nowhere'")}},
    ),
    "admin_rooms.calendars": Examples(
        parameters={"room_id": "blue"},
        response={
            "room": "blue",
            "calendars": [
                {
                    "provider": "example",
                    "grant": "Jr3Qe0a9XgT2LmPw",
                    "grantStatus": "active",
                    "since": "2026-12-01T09:30:00+00:00",
                }
            ],
        },
        errors={404: {"no_such_room": ("room_not_found", "there is no room 'nowhere'")}},
    ),
    "admin_rooms.update": Examples(
        parameters={"room_id": "blue"},
        request={"capacity": 10, "exceptions": [*CHRISTMAS, CHRISTMAS_EVE]},
        response={**BLUE_AS_ADMIN, "capacity": 10, "exceptions": [*CHRISTMAS, CHRISTMAS_EVE]},
        errors={
            400: {
                "bad_zone": (
                    "invalid_room",
                    "time_zone: 'Europe/Brusels' is not an IANA time zone such as Europe/Brussels",
                )
            },
            404: {"no_such_room": ("room_not_found", "there is no room 'nowhere'")},
        },
    ),
    "admin_rooms.delete": Examples(
        parameters={"room_id": "green"},  # not blue, which the other examples show
        errors={404: {"no_such_room": ("room_not_found", "there is no room 'nowhere'")}},
    ),
    "admin_webhooks.webhook": Examples(
        parameters={"client_id": FRONT_CLIENT},
        response={
            "client": FRONT_CLIENT,
            "url": HOOK_URL,
            "created": "2026-11-20T10:02:41.518000Z",
            "events": list(EVENTS),
        },
        errors={
            404: {
                "no_such_client": NO_CLIENT,
                "no_webhook": ("webhook_not_found", f"API client {KIOSK_CLIENT!r} has no webhook"),
            }
        },
    ),
    "admin_webhooks.deliveries": Examples(
        parameters={"client_id": FRONT_CLIENT},
        response={
            "client": FRONT_CLIENT,
            "deliveries": [
                {
                    "id": "msg_2qJ0a8Zr5c1xWm3eTn6vYb4d",  # pragma: allowlist secret (an event id)
                    "type": "room.availability.changed",
                    "room": "blue",
                    "at": "2026-11-25T08:58:13Z",
                    "status": "delivered",
                    "answer": "ok",
                    "attempts": 2,
                },
                {
                    "id": "msg_7hK1b9Ys3d0zXn2fUo5wZc8e",  # pragma: allowlist secret (an event id)
                    "type": "room.status.changed",
                    "room": "blue",
                    "at": "2026-11-25T08:41:02Z",
                    "status": "retrying",
                    "answer": "503",
                    "attempts": 1,
                },
            ],
        },
        errors={404: {"no_such_client": NO_CLIENT}},
    ),
}

"""Examples of every request and answer of the API, for /api and /openapi.json.

Keyed by endpoint, as `OTHER_ROUTES` in gateway/openapi_routes.py is. They describe one world,
the one the example tests seed (tests/fuzz/conftest.py): rooms `blue` and `green` in
Brussels, bookable 08:00-18:00 on weekdays, `blue` bound to a calendar with meetings at
09:00-10:30 and 13:15-14:00 UTC on 25 November 2026, and an API client that sees both. So
the examples are not only read: test_openapi_examples.py sends them and tests compare them
with what the API answers. Error messages are the code's own, and every limit in them comes
from the constant the code enforces; the generic error answers, and which of them a route
shows, are in gateway/openapi_errors.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.openapi_errors import Refusal
from gateway.services.freebusy_answer import MAX_DAYS, MAX_ROOMS
from gateway.services.intervals import SUPPORTED_RANGE
from gateway.services.privacy import EXPORT_FORMAT
from scopes.catalogue import load_catalogue
from scopes.register import processing_register


@dataclass(frozen=True)
class Examples:
    """One operation's examples: its body, its parameters by name, its success answer, and
    error answers by status and name where they differ from the generic ones (openapi_errors.py),
    and other success answers worth showing (a room partly unknown)."""

    request: Any = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    response: Any = None
    errors: Mapping[int, Mapping[str, Refusal]] = field(default_factory=dict)
    # other success answers by name: (summary, answer), shown beside `response`
    other_responses: Mapping[str, tuple[str, Any]] = field(default_factory=dict)

    def shown_answers(self) -> dict[str, Any]:
        """The success answer's `example`, or, with others, its named `examples` (OpenAPI
        allows one or the other)."""
        if not self.other_responses:
            return {"example": self.response}
        named = {"answer": ("answer", self.response), **self.other_responses}
        return {"examples": {n: {"summary": s, "value": v} for n, (s, v) in named.items()}}


WINDOW = {"timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}
AS_OF = "2026-11-25T08:58:12Z"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
HOURS = {day: [["08:00", "18:00"]] for day in WEEKDAYS}
CHRISTMAS = [{"date": "2026-12-25", "hours": []}]
CHRISTMAS_EVE = {"date": "2026-12-24", "hours": [["08:00", "12:00"]]}
BLUE = {
    "id": "blue",
    "name": "Blue room",
    "location": "Ghent, 2nd floor",
    "timeZone": "Europe/Brussels",
    "hours": HOURS,
    "exceptions": CHRISTMAS,
    "capacity": 8,
    "equipment": ["projector", "whiteboard"],
}
BLUE_SPEC = {
    **{k: v for k, v in BLUE.items() if k != "timeZone"},
    "time_zone": "Europe/Brussels",
    "host": None,
    "visibility": ["frontend", "members"],
}
VIOLET_SPEC = {
    **BLUE_SPEC,
    "id": "violet",
    "name": "Violet room",
    "location": "Ghent, 3rd floor",
    "capacity": 4,
    "equipment": [],
}
BLUE_AS_ADMIN = {**BLUE_SPEC, "created": "2026-11-02T09:14:05Z", "updated": AS_OF, "bound": True}
MEETINGS = [
    {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:30:00Z"},
    {"start": "2026-11-25T13:15:00Z", "end": "2026-11-25T14:00:00Z"},
]
GREEN_UNBOUND = {"busy": [], "status": "unbound", "stale": False, "asOf": None}
FREEBUSY_ANSWER = {
    **WINDOW,
    "rooms": {
        "blue": {"busy": MEETINGS, "status": "ok", "stale": False, "asOf": AS_OF},
        "green": GREEN_UNBOUND,
    },
}
# The next day as well, with Blue's calendar not answering for it: busy time is exact on the
# 25th, and the 26th is `unknown` (never free), as services/freebusy_compose.py answers.
PARTLY_UNKNOWN = (
    "Blue's calendar could not be read for the second day: never free there",
    {
        "timeMin": WINDOW["timeMin"],
        "timeMax": "2026-11-27T00:00:00Z",
        "rooms": {
            "blue": {
                "busy": MEETINGS,
                "status": "unknown",
                "stale": False,
                "asOf": AS_OF,
                "unknown": [{"start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z"}],
            },
            "green": GREEN_UNBOUND,
        },
    },
)
TOO_MANY_ROOMS = f"rooms: at most {MAX_ROOMS} rooms per call, got {MAX_ROOMS + 1}"
TOO_LONG = f"body: at most {MAX_DAYS} days from timeMin to timeMax"
NOT_RFC3339 = "from: must be an RFC 3339 date-time with an offset, e.g. 2025-03-03T09:00:00Z"
TOO_LONG_A_SLOT = "duration: Input should be less than or equal to 480"
BAD_ID = "id: must be 1 to 64 lower-case letters, digits or hyphens"
OUT_OF_RANGE = f"timeMin: must lie {SUPPORTED_RANGE}"


def operation_examples() -> dict[str, Examples]:
    """Every operation's examples by endpoint (the register's is the catalogue's own, cut
    to one entry of each list)."""
    from gateway.openapi_examples_admin import ADMIN_EXAMPLES  # it builds on this module's

    register = processing_register(load_catalogue())
    cut = {k: v[:1] if isinstance(v, list) else v for k, v in register.items()}
    return {**EXAMPLES, **ADMIN_EXAMPLES, "register.register_json": Examples(response=cut)}


EXAMPLES: dict[str, Examples] = {
    "api_v1.list_rooms": Examples(response={"rooms": [BLUE]}),
    # its request and answer are the models' own (RoomSearchRequest, RoomSearchResponse)
    "api_v1.search_rooms": Examples(
        errors={400: {"backwards": ("invalid_request", "body: timeMax must be after timeMin")}}
    ),
    "api_v1.freebusy": Examples(
        request={"rooms": ["blue", "green"], **WINDOW, "granularity": 15},
        response=FREEBUSY_ANSWER,
        other_responses={"partly_unknown": PARTLY_UNKNOWN},
        errors={
            400: {
                "too_many_rooms": ("invalid_request", TOO_MANY_ROOMS),
                "too_many_days": ("invalid_request", TOO_LONG),
                "out_of_range": ("invalid_request", OUT_OF_RANGE),
            }
        },
    ),
    "api_v1.freebusy_get": Examples(
        parameters={"rooms": ["blue", "green"], **WINDOW, "granularity": 15},
        response=FREEBUSY_ANSWER,
        other_responses={"partly_unknown": PARTLY_UNKNOWN},
        errors={400: {"too_many_days": ("invalid_request", TOO_LONG)}},
    ),
    "api_v1.slots": Examples(
        parameters={
            "room_id": "blue",
            "from": "2026-11-25T08:00:00+01:00",
            "to": "2026-11-25T18:00:00+01:00",
            "duration": 60,
        },
        response={
            "room": "blue",
            "from": "2026-11-25T07:00:00Z",
            "to": "2026-11-25T17:00:00Z",
            "duration": 60,
            "status": "ok",
            "stale": False,
            "asOf": AS_OF,
            "slots": [
                {"start": "2026-11-25T07:00:00Z", "end": "2026-11-25T09:00:00Z"},
                {"start": "2026-11-25T10:30:00Z", "end": "2026-11-25T13:15:00Z"},
                {"start": "2026-11-25T14:00:00Z", "end": "2026-11-25T17:00:00Z"},
            ],
        },
        errors={
            400: {
                "not_a_date_time": ("invalid_request", NOT_RFC3339),
                "too_long": (
                    "invalid_request",
                    "duration: Input should be less than or equal to 480",
                ),
            }
        },
    ),
    "api.me": Examples(
        response={
            "id": "u_3kq8d2x9w1",
            "name": "Bob Example",
            "email": "bob@example.com",
            "created": "2026-11-02T09:14:05Z",
            "identities": [
                {
                    "provider": "example",
                    "name": "Bob Example",
                    "email": "bob@example.com",
                    "linked": "2026-11-02T09:14:05Z",
                }
            ],
        }
    ),
    "privacy.export": Examples(
        parameters={"download": "1"},
        response={
            "format": EXPORT_FORMAT,
            "generated": AS_OF,
            "user": {
                "id": "u_3kq8d2x9w1",
                "name": "Bob Example",
                "email": "bob@example.com",
                "created": "2026-11-02T09:14:05Z",
            },
            "identities": [],
            "grants": [],
        },
    ),
    "privacy.erase_json": Examples(
        response={
            "kind": "erasure",
            "receipt": "5sQ0m1cT9y2bXw8e",
            "at": 1795600692.123,
            "subject": "a3f1c9e07b2d44e1",  # pragma: allowlist secret (a pseudonym)
            "deleted": {
                "grants": 1,
                "room_links": 0,
                "sessions": 1,
                "keys": 14,
                "room_history_entries": 0,
            },
            "kept": {"audit_entries": 6},
        }
    ),
    "privacy.restriction_json": Examples(
        request={"restricted": True},
        response={"restricted": True},
        errors={
            400: {
                "not_a_boolean": (
                    "bad_request",
                    'Send {"restricted": true} or {"restricted": false}.',
                )
            }
        },
    ),
}

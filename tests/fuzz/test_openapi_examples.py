"""The examples in /openapi.json, sent as written by schemathesis' explicit phase: each is
answered as the document says (no 5xx, documented status, body and headers), and each
operation's documented request is a success, as its example answer shows (the search's
`DOCUMENTED` one included). The fuzz tests (test_openapi_fuzz.py) cannot send them: schema
examples do not combine with @given.

Operations that take nothing (no parameters, no body) have no request example to send; the
others go as the booking client or Bob (booking_schema), or as Alice, an administrator
(admin_schema). Erasure (DELETE /v1/me) takes nothing either."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

import tests.fuzz.test_openapi_fuzz as fuzz
from gateway.blueprints.api_models import RoomSearchRequest
from tests.fuzz.conftest import World

DOCUMENTED = RoomSearchRequest.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
# the fixtures: the document, with the front's secret, Bob's and Alice's sessions
booking_schema = fuzz.booking_schema
admin_schema = fuzz.admin_schema

TAKES_SOMETHING = r"^/v1/(rooms/search|freebusy|rooms/\{room_id\}/slots|me/(export|restriction))$"
examples = schemathesis.pytest.from_fixture("booking_schema").include(path_regex=TAKES_SOMETHING)
admin_examples = (
    schemathesis.pytest.from_fixture("admin_schema")
    .include(path_regex="^/v1/admin/")
    .exclude(path="/v1/admin/rooms", method="GET")
)
WITH_EXAMPLES = {
    "test_the_documented_examples_are_answered_as_documented": (
        "POST /v1/rooms/search",
        "POST /v1/freebusy",
        "GET /v1/freebusy",
        "GET /v1/rooms/{room_id}/slots",
        "GET /v1/me/export",
        "POST /v1/me/restriction",
    ),
    "test_the_admin_examples_are_answered_as_documented": (
        "POST /v1/admin/rooms",
        "GET /v1/admin/rooms/{room_id}",
        "GET /v1/admin/rooms/{room_id}/calendars",
        "PATCH /v1/admin/rooms/{room_id}",
        "DELETE /v1/admin/rooms/{room_id}",
        "GET /v1/admin/clients/{client_id}/webhook",
        "GET /v1/admin/clients/{client_id}/deliveries",
    ),
}
EXPLICIT = settings(
    max_examples=5,
    deadline=None,
    database=None,
    phases=[Phase.explicit],
    suppress_health_check=list(HealthCheck),
)
# (operation, status) of each case sent with the operation's own method and its example
STATUSES: list[tuple[str, int]] = []


@pytest.fixture
def documented_answered(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the run: each operation's example as written was a success (2xx); for the
    search, `DOCUMENTED`, the one its description shows. (The explicit phase also sends
    other methods and variants; those are only checked against the document.)"""
    STATUSES.clear()
    yield
    succeeded = {label for label, status in STATUSES if 200 <= status < 300}
    assert succeeded == set(WITH_EXAMPLES[request.node.name]), STATUSES


def as_written(case: Any) -> bool:
    """The case is the operation's example itself: every parameter and the body as the
    document gives them (the explicit phase also sends variants of them)."""
    operation = case.operation.definition.raw
    for parameter in operation.get("parameters", []):
        sent = (case.path_parameters if parameter["in"] == "path" else case.query) or {}
        if str(sent.get(parameter["name"])) != str(parameter["example"]):
            return False
    if "requestBody" not in operation:
        return True
    media = operation["requestBody"]["content"]["application/json"]
    return bool(case.body == media.get("example", DOCUMENTED))


def answer(case: Any, world: World) -> Any:
    world.fresh_limits()
    written = case.method.upper() == case.operation.method.upper() and as_written(case)
    if written and case.operation.label == "POST /v1/admin/rooms":
        # the example adds a room the seeded world lacks; a variant sent before may have
        rooms = world.app.extensions["gateway"].rooms
        if case.body["id"] in {r.id for r in rooms.all()}:
            rooms.delete(case.body["id"], actor="tests")
    response = case.call_and_validate(checks=fuzz.CHECKS)
    if written:
        STATUSES.append((case.operation.label, response.status_code))
    return response


@examples.parametrize()
@EXPLICIT
@pytest.mark.usefixtures("documented_answered")
def test_the_documented_examples_are_answered_as_documented(case: Any, world: World) -> None:
    answer(case, world)


@admin_examples.parametrize()
@EXPLICIT
@pytest.mark.usefixtures("documented_answered")
def test_the_admin_examples_are_answered_as_documented(case: Any, world: World) -> None:
    answer(case, world)

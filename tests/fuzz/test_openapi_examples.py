"""The examples in /openapi.json, sent as written by schemathesis' explicit phase: each is
answered as the document says (no 5xx, documented status, body and headers), and the
documented search itself is a 200. The fuzz tests (test_openapi_fuzz.py) cannot send them:
schema examples do not combine with @given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

import tests.fuzz.test_openapi_fuzz as fuzz
from gateway.blueprints.api_v1 import RoomSearchRequest
from tests.fuzz.conftest import World

DOCUMENTED = RoomSearchRequest.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
booking_schema = fuzz.booking_schema  # the fixture: the document, with the front's secret

examples = schemathesis.pytest.from_fixture("booking_schema").include(path="/v1/rooms/search")
STATUSES: list[tuple[str, int]] = []


@pytest.fixture
def documented_answered() -> Iterator[None]:
    """After the run: the example as written (POST, with the credential) was a 200."""
    STATUSES.clear()
    yield
    assert ("POST", 200) in STATUSES, STATUSES


@examples.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    database=None,
    phases=[Phase.explicit],
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.usefixtures("documented_answered")
def test_the_documented_examples_are_answered_as_documented(case: Any, world: World) -> None:
    world.fresh_limits()
    response = case.call_and_validate(checks=fuzz.CHECKS)
    if case.body == DOCUMENTED:
        STATUSES.append((case.method, response.status_code))

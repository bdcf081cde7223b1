"""The API's OpenAPI document: valid 3.1, complete both ways, and readable at /api."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from gateway.openapi import IGNORED_METHODS, openapi_path
from gateway.services.freebusy_answer import MAX_DAYS, MAX_ROOMS
from tests.gateway.blueprints.test_api_v1 import wire_api


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    wire_api(app)


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    found: dict[str, Any] = answer.get_json()
    return found


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_every_v1_route_is_documented_and_every_documented_route_exists(
    app: Flask, document: dict[str, Any]
) -> None:
    routed = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/")
        for method in (rule.methods or set()) - IGNORED_METHODS
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routed == documented
    assert {"/v1/rooms", "/v1/freebusy", "/v1/rooms/{room_id}/slots"} <= set(document["paths"])


def test_request_schemas_refuse_unknown_fields_as_the_api_does(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    body = document["paths"]["/v1/freebusy"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/FreeBusyRequest"}
    request = schemas["FreeBusyRequest"]
    assert request["additionalProperties"] is False
    assert set(request["required"]) == {"rooms", "timeMin", "timeMax"}
    assert request["properties"]["granularity"]["enum"] == [0, 5, 10, 15, 30, 60]
    assert set(schemas["RoomOut"]["properties"]) == {
        *("id", "name", "location", "timeZone", "hours"),
        *("exceptions", "capacity", "equipment"),
    }
    slots = document["paths"]["/v1/rooms/{room_id}/slots"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in slots["parameters"]] == [
        ("room_id", "path", True),
        ("from", "query", True),
        ("to", "query", True),
        ("duration", "query", True),
    ]


def test_every_operation_documents_its_errors_in_the_one_error_shape(
    document: dict[str, Any],
) -> None:
    error = {"$ref": "#/components/schemas/ApiError"}
    for item in document["paths"].values():
        for operation in item.values():
            if operation["security"]:
                assert "401" in operation["responses"], operation["operationId"]
            for status, answer in operation["responses"].items():
                if not status.startswith("2"):
                    assert answer["content"]["application/json"]["schema"] == error
    freebusy = document["paths"]["/v1/freebusy"]["post"]["responses"]
    assert {"400", "401", "404", "429"} <= set(freebusy)
    assert "Retry-After" in freebusy["429"]["headers"]


def test_the_api_page_is_the_document_for_people_with_nothing_from_elsewhere(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    answer = client.get("/api")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert 'class="site"' in page  # extends base.html
    for path, item in document["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in page
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page


def test_every_room_and_day_limit_the_text_states_is_the_one_the_code_enforces(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    """The text once said "up to 100 rooms" while the code took 250: numbers in prose drift."""
    texts = [json.dumps(document), client.get("/api").get_data(as_text=True)]
    for text in texts:
        rooms = {int(n) for n in re.findall(r"(?:up to|1 to) (\d+) rooms?", text, re.I)}
        days = {int(n) for n in re.findall(r"up to (\d+) days", text, re.I)}
        assert rooms <= {MAX_ROOMS} and days <= {MAX_DAYS}, (rooms, days)
    assert f"up to {MAX_ROOMS} rooms" in texts[0].lower()

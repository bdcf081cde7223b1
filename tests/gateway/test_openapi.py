"""The API's OpenAPI document: valid 3.1, complete both ways, and readable at /api."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from gateway.blueprints.api_models import MAX_DURATION
from gateway.errors import STORAGE_RETRY_AFTER
from gateway.limits import ANONYMOUS_RATE_LIMIT, USER_RATE_LIMIT
from gateway.openapi import IGNORED_METHODS, openapi_path
from gateway.openapi_errors import too_many
from gateway.services.api_clients import DEFAULT_RATE_LIMIT
from gateway.services.freebusy_answer import GRANULARITIES, MAX_DAYS, MAX_ROOMS
from gateway.services.intervals import SUPPORTED_RANGE
from gateway.services.room_model import ROOM_ID
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
    # scripts only as files of the gateway's own static folder, never inline (the CSP of
    # /api lets in 'self' and nothing else: tests/gateway/test_csp.py)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    sources = [re.findall(r'src="([^"]+)"', attributes) for attributes, _ in scripts]
    assert sources == [["/static/swagger-ui/swagger-ui-bundle.js"], ["/static/api-docs.js"]]
    assert all(not body.strip() for _, body in scripts)
    assert " style=" not in page and "<style" not in page


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


def prose(node: Any, key: str = "") -> Iterator[str]:
    """Every text of the document a person reads: summaries, descriptions, and the messages
    of the error examples (the other examples are data, validated against their schemas)."""
    if isinstance(node, dict):
        if key == "examples" and all(isinstance(v, dict) and "value" in v for v in node.values()):
            for example in node.values():
                if isinstance(example["value"], dict) and "message" in example["value"]:
                    yield example["value"]["message"]
            return
        for name, value in node.items():
            if name in ("summary", "description") and isinstance(value, str):
                yield value
            elif name != "example" and not (name == "examples" and isinstance(value, list)):
                yield from prose(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from prose(value, key)


def limits_stated(app: Flask) -> list[tuple[str, set[str]]]:
    """(phrase, the values the code allows in it) for every limit the document can state."""
    one_room_id = re.search(r"\{(\d+),(\d+)\}", ROOM_ID.pattern)
    assert one_room_id is not None
    limits = {DEFAULT_RATE_LIMIT, USER_RATE_LIMIT, ANONYMOUS_RATE_LIMIT}
    return [
        (r"(\d+ rooms per call, got \d+)", {f"{MAX_ROOMS} rooms per call, got {MAX_ROOMS + 1}"}),
        (r"(?:up to|1 to|at most) (\d+) rooms", {str(MAX_ROOMS)}),
        (r"Room ids, (1 to \d+)", {f"1 to {MAX_ROOMS}"}),
        (r"(?:up to|at most) (\d+) days", {str(MAX_DAYS)}),
        (r"an API client has its own limit \((\d+/\w+)", {DEFAULT_RATE_LIMIT}),
        (r"a signed-in user (\d+/\w+)", {USER_RATE_LIMIT}),
        (r"without a valid credential (\d+/\w+)", {ANONYMOUS_RATE_LIMIT}),
        (r"(Too many requests: the limit is \d+ per 1 \w+\.)", {too_many(x)[1] for x in limits}),
        (r"larger than (\d+) KiB", {str(app.config["MAX_CONTENT_LENGTH"] // 1024)}),
        (r"`Retry-After` seconds \((\d+)\)", {STORAGE_RETRY_AFTER["Retry-After"]}),
        (r"less than or equal to (\d+)", {str(MAX_DURATION)}),
        (r"must be (\d+ to \d+) lower-case", {"{} to {}".format(*one_room_id.groups())}),
        (r"must lie (from [\d-]+ to [\d-]+ \(UTC\))", {SUPPORTED_RANGE}),
        (r"this many minutes \((\d+): exact\)", {str(GRANULARITIES[0])}),
        (r"makes the whole call a (\d+)", {"404"}),
    ]


# Numbers that are names, not limits: standards, GDPR articles, example times and dates.
REFERENCES = re.compile(
    r"RFC \d+|Art\. \d+(?: and \d+)?|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|\d\d:\d\d|\?download=1"
)


def test_every_number_the_document_states_is_the_one_the_code_enforces(
    app: Flask, document: dict[str, Any]
) -> None:
    """Each number in the prose is a limit the code enforces, in a phrase that says which
    (rooms, days, rate limits, body size, durations, retry, id length, time range), or a
    reference; a number in any other phrase fails, so a new one must be added here."""
    stated = limits_stated(app)
    found: dict[str, set[str]] = {}
    for text in set(prose(document)):
        for phrase, allowed in stated:
            for value in re.findall(phrase, text, re.I):
                assert value in allowed, (phrase, value, allowed, text)
                found.setdefault(phrase, set()).add(value)
            text = re.sub(phrase, "", text, flags=re.I)
        leftover = re.findall(r"\d+", REFERENCES.sub("", text))
        assert leftover == [], (leftover, text)
    assert set(found) == {phrase for phrase, _ in stated}  # each limit is stated somewhere

"""Every operation of /openapi.json carries examples (its parameters, its body, its success
answer and each of its error answers), and each example is valid against the schema it
illustrates, by JSON Schema 2020-12 as OpenAPI 3.1 says. That the API answers them is
tests/fuzz/test_openapi_examples.py (requests) and test_openapi_error_examples.py (errors)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from tests.gateway.blueprints.test_api_v1 import wire_api


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    wire_api(app)


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    found: dict[str, Any] = client.get("/openapi.json").get_json()
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A component schema by its $ref, or the schema itself."""
    ref = schema.get("$ref", "")
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


def request_examples(document: dict[str, Any], operation: dict[str, Any]) -> list[Any]:
    media = operation["requestBody"]["content"]["application/json"]
    if "example" in media:
        return [media["example"]]
    return list(resolved(document, media["schema"]).get("examples", []))


def examples_with_schemas(
    document: dict[str, Any],
) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(where, example, schema) of every example in the document."""
    for label, operation in operations(document):
        for parameter in operation.get("parameters", []):
            yield f"{label} {parameter['name']}", parameter["example"], parameter["schema"]
        if "requestBody" in operation:
            media = operation["requestBody"]["content"]["application/json"]
            for example in request_examples(document, operation):
                yield f"{label} body", example, media["schema"]
        for status, answer in operation["responses"].items():
            media = answer.get("content", {}).get("application/json")
            if media is None:
                continue
            for name, example in media.get("examples", {}).items():
                yield f"{label} {status} {name}", example["value"], media["schema"]
            if "example" in media:
                yield f"{label} {status}", media["example"], media["schema"]
            for example in resolved(document, media["schema"]).get("examples", []):
                yield f"{label} {status} (schema)", example, media["schema"]


def test_every_operation_has_an_example_of_each_part(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        for parameter in operation.get("parameters", []):
            assert "example" in parameter, (label, parameter["name"])
        if "requestBody" in operation:
            assert request_examples(document, operation), label
        for status, answer in operation["responses"].items():
            media = answer.get("content", {}).get("application/json")
            if status.startswith("2"):
                assert media is not None or status == "204", (label, status)
                if media is not None:
                    schema = resolved(document, media["schema"])
                    shown = "example" in media or media.get("examples")
                    assert shown or schema.get("examples"), (label, status)
            else:
                assert media["examples"], (label, status)


def problems(document: dict[str, Any], example: Any, schema: dict[str, Any]) -> list[str]:
    # $refs in the schema are to the document's components: validate within it
    validator = Draft202012Validator({**schema, "components": document["components"]})
    return [e.message for e in validator.iter_errors(example)]


def test_every_example_is_valid_against_its_schema(document: dict[str, Any]) -> None:
    room_list = {"$ref": "#/components/schemas/RoomList"}
    assert problems(document, {"rooms": [{"id": "blue"}]}, room_list)  # the check can fail
    count = 0
    for where, example, schema in examples_with_schemas(document):
        errors = problems(document, example, schema)
        assert errors == [], (where, errors[:3])
        count += 1
    assert count > 60, count


def test_errors_show_the_one_error_shape_with_the_codes_a_client_switches_on(
    document: dict[str, Any],
) -> None:
    codes = {
        example["value"]["error"]
        for _, operation in operations(document)
        for status, answer in operation["responses"].items()
        if not status.startswith("2")
        for example in answer["content"]["application/json"]["examples"].values()
    }
    assert {"invalid_request", "unauthorized", "room_not_found", "rate_limited"} <= codes
    assert {"storage_unavailable", "csrf_failed", "forbidden", "room_exists"} <= codes
    assert "refused" not in codes  # every status has an example of its own


def test_the_freebusy_answers_show_a_room_partly_unknown(document: dict[str, Any]) -> None:
    """Besides the answer to the example request, one whose room could be read for one day
    only: `unknown`, with the span that was not read; it validates against the schema."""
    for method in ("post", "get"):
        answers = document["paths"]["/v1/freebusy"][method]["responses"]["200"]
        media = answers["content"]["application/json"]
        shown = media["examples"]
        assert set(shown) == {"answer", "partly_unknown"}
        blue = shown["partly_unknown"]["value"]["rooms"]["blue"]
        assert blue["status"] == "unknown" and blue["busy"]
        assert blue["unknown"] == [{"start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z"}]
        assert problems(document, shown["partly_unknown"]["value"], media["schema"]) == []

"""The OpenAPI 3.1 document of the JSON API, built from the app's own routes and models.

A view says what it takes and returns with `@documented(Operation(...))`; `build_document`
walks `app.url_map`, so a route under /v1 without an `Operation` is missing from the
document (a test checks both directions). Request and response schemas come from the
pydantic models through `models_json_schema`, so the document cannot drift from validation.
Routes under /v1 that other blueprints serve (/v1/me, the processing register, the admin
rooms API) are described in `OTHER_ROUTES` (gateway/openapi_routes.py), by endpoint.
Examples of every body, parameter and answer, errors included, come from
gateway/openapi_examples.py, also by endpoint; the limits the prose states are the code's
constants, passed in or imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.limits import ANONYMOUS_RATE_LIMIT, USER_RATE_LIMIT
from gateway.openapi_errors import STORAGE_RETRY_SECONDS, error_examples
from gateway.openapi_examples import Examples
from gateway.services.api_clients import DEFAULT_RATE_LIMIT
from gateway.services.room_model import ROOM_ID

F = TypeVar("F", bound=Callable[..., Any])

OPENAPI_VERSION = "3.1.0"
API_PREFIX = "/v1/"
REF_TEMPLATE = "#/components/schemas/{model}"
ATTRIBUTE = "openapi_operation"
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PATH_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
TEMPLATE_ARGUMENT = re.compile(r"{([^{}]+)}")

Auth = Literal["bearer", "session"]
# Path arguments by name; every route names a room the same way.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "room_id": {"type": "string", "pattern": ROOM_ID.pattern},
    "client_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}

SUCCESS = {200: "OK", 201: "Created", 204: "Done; no body."}
ERROR_DESCRIPTIONS = {
    400: "The request is malformed; `message` says which field and why. A signed-in "
    "session's unsafe request without its CSRF token (`csrf_failed`) is one too.",
    401: "No valid credential: send `Authorization: Bearer <client secret>` or sign in.",
    403: "The caller may not do this (e.g. not an administrator).",
    404: "No such resource, or one the caller may not see (the two look the same).",
    409: "It exists already.",
    413: "The body is larger than {body_kib} KiB.",
    429: "Too many requests for this caller; retry after `Retry-After` seconds. The booking "
    "routes share one budget per caller: an API client has its own limit "
    f"({DEFAULT_RATE_LIMIT} unless one was set when it was made), a signed-in user "
    f"{USER_RATE_LIMIT}, an address without a valid credential {ANONYMOUS_RATE_LIMIT}.",
    503: f"Storage is not answering; retry after `Retry-After` seconds ({STORAGE_RETRY_SECONDS}).",
}


class ApiError(BaseModel):
    """Every error of the API has this shape."""

    error: str
    message: str


@dataclass(frozen=True)
class Operation:
    """What one route takes and returns, for the document."""

    summary: str
    description: str = ""
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    auth: tuple[Auth, ...] = ("bearer", "session")
    rate_limited: bool = True
    tag: str = "rooms"
    success: int = 200


def documented(operation: Operation) -> Callable[[F], F]:
    """Attach `operation` to a view function so `build_document` describes its route."""

    def attach(view: F) -> F:
        setattr(view, ATTRIBUTE, operation)
        return view

    return attach


def operation_of(view: Callable[..., Any] | None) -> Operation | None:
    found = getattr(view, ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None


def openapi_path(rule: str) -> str:
    """`/v1/rooms/<room_id>/slots` -> `/v1/rooms/{room_id}/slots`."""
    return PATH_ARGUMENT.sub(r"{\1}", rule)


def build_document(
    app: Flask,
    *,
    title: str,
    version: str,
    description: str,
    extra: Mapping[str, Operation] | None = None,
    examples: Mapping[str, Examples] | None = None,
    session_cookie: str = "gw_session",
    body_limit: int = 64 * 1024,
) -> dict[str, Any]:
    """The document for every route under /v1 that has an Operation (its own or in `extra`,
    keyed by endpoint, for routes of other blueprints), with `examples` by endpoint;
    `body_limit` is the app's MAX_CONTENT_LENGTH, which bodies over are refused with 413."""
    extra = extra or {}
    examples = examples or {}
    context = {"body_kib": body_limit // 1024}
    found: list[tuple[str, str, list[str], Operation]] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX):
            continue
        operation = extra.get(rule.endpoint) or operation_of(app.view_functions.get(rule.endpoint))
        if operation is None:
            continue
        methods = sorted((rule.methods or set()) - IGNORED_METHODS)
        found.append((openapi_path(rule.rule), rule.endpoint, methods, operation))

    schemas, refs = _schemas([op for *_, op in found])
    paths: dict[str, dict[str, Any]] = {}
    for path, endpoint, methods, operation in found:
        for method in methods:
            paths.setdefault(path, {})[method.lower()] = _operation(
                path,
                endpoint,
                method,
                operation,
                refs,
                examples.get(endpoint, Examples()),
                context,
            )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/"}],
        "tags": [{"name": name} for name in sorted({op.tag for *_, op in found})],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API client secret (`gwc_...`), made with "
                    "`flask --app gateway clients create`.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": session_cookie,
                    "description": "A signed-in browser session. Unsafe methods (POST) also "
                    "need the session's CSRF token in the `X-CSRFToken` header.",
                },
            },
        },
    }


def _schemas(
    operations: list[Operation],
) -> tuple[dict[str, Any], dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ApiError, "serialization"): None}
    for operation in operations:
        if operation.body is not None:
            wanted[(operation.body, "validation")] = None
        if operation.query is not None:
            wanted[(operation.query, "validation")] = None
        if operation.response is not None:
            wanted[(operation.response, "serialization")] = None
    refs, definitions = models_json_schema(list(wanted), ref_template=REF_TEMPLATE)
    by_model = {(model, mode): refs[(model, mode)] for model, mode in wanted}
    return dict(definitions.get("$defs", {})), by_model


def _operation(
    path: str,
    endpoint: str,
    method: str,
    operation: Operation,
    refs: Mapping[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]],
    examples: Examples,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        described["description"] = operation.description
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(PATH_PARAMETERS.get(name, {"type": "string"})),
        }
        for name in TEMPLATE_ARGUMENT.findall(path)
    ]
    if operation.query is not None:
        parameters.extend(_query_parameters(operation.query))
    for parameter in parameters:
        if parameter["name"] in examples.parameters:
            parameter["example"] = examples.parameters[parameter["name"]]
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        body: dict[str, Any] = {"schema": refs[(operation.body, "validation")]}
        if examples.request is not None:
            body["example"] = examples.request
        described["requestBody"] = {"required": True, "content": {"application/json": body}}
    ok: dict[str, Any] = {"description": SUCCESS.get(operation.success, "OK")}
    if operation.response is not None or examples.response is not None:
        media: dict[str, Any] = {"schema": {"type": "object"}}
        if operation.response is not None:
            media["schema"] = refs[(operation.response, "serialization")]
        if examples.response is not None:
            media.update(examples.shown_answers())
        ok["content"] = {"application/json": media}
    responses: dict[str, Any] = {str(operation.success): ok}
    statuses = set(operation.errors)
    if "session" in operation.auth and method not in SAFE_METHODS:
        statuses.add(400)  # the session's CSRF token is missing or wrong
    if operation.auth:
        statuses.add(401)
    if operation.rate_limited:
        statuses.add(429)
    if operation.body is not None:
        statuses.add(413)
    error_schema = refs[(ApiError, "serialization")]
    for status in sorted(statuses):
        answer: dict[str, Any] = {
            "description": ERROR_DESCRIPTIONS.get(status, "Refused.").format(**context),
            "content": {
                "application/json": {
                    "schema": error_schema,
                    "examples": error_examples(
                        status,
                        operation.auth,
                        takes_csrf="session" in operation.auth and method not in SAFE_METHODS,
                        own=examples.errors.get(status, {}),
                    ),
                }
            },
        }
        if status in (429, 503):
            answer["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before the next request.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
        if status == 401:
            answer["headers"] = {
                "WWW-Authenticate": {
                    "description": "`Bearer`, as RFC 6750 says.",
                    "schema": {"type": "string"},
                }
            }
        responses[str(status)] = answer
    described["responses"] = responses
    described["security"] = [{scheme: []} for scheme in operation.auth]
    return described


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation", ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema.get("properties", {}).items():
        field_schema = dict(field_schema)
        description = field_schema.pop("description", None)
        field_schema.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field_schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters

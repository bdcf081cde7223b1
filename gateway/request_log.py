"""JSON log lines, each carrying the id of the request it belongs to.

Every record becomes one line of JSON: `time` (UTC), `level`, `logger`, `message`, and
inside a request `request_id`, `method` and `endpoint`. One access line per request (logger
`gateway.access`) adds `status` and `duration_ms`.

The request id is the caller's `X-Request-Id` when it looks like one (hex digits and dashes,
8 to 64 of them, e.g. a UUID), otherwise a new UUID; the response echoes it. Nothing else
of the request is logged: not the path (it holds room and user ids; `endpoint` is the
route's name), not the query string (codes, states), no other header, no client address.
JSON encoding escapes CR, LF and every other control character, so a value cannot forge a
line (log injection). As a last line of defence, messages are scrubbed of anything that
looks like a credential parameter, a bearer token, a JWT or an e-mail address.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, has_request_context, request

HEADER = "X-Request-Id"
ENVIRON_HEADER = "HTTP_X_REQUEST_ID"
ID_KEY = "gateway.request_id"
ENDPOINT_KEY = "gateway.endpoint"  # set on the WSGI environ at the end of each request
UNMATCHED = "unmatched"
ACCESS_LOGGER = "gateway.access"
VALID_ID = re.compile(r"[0-9A-Fa-f-]{8,64}")
METHOD = re.compile(r"[A-Z]{1,16}")

REDACTIONS = (
    (
        re.compile(
            r"(?i)\b(code|state|nonce|code_verifier|client_secret|password|assertion|"
            r"(?:access_|refresh_|id_)?token)=[^&\s\"']+"
        ),
        r"\1=[redacted]",
    ),
    (re.compile(r"(?i)\bbearer\s+[\w.~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), "[jwt]"),
    (re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
)
REQUEST_FIELDS = ("request_id", "method", "endpoint")
ACCESS_FIELDS = ("status", "duration_ms")


def scrub(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def request_id(environ: dict[str, Any]) -> str:
    """This request's id: the caller's valid `X-Request-Id`, else a new one (kept on environ)."""
    found = environ.get(ID_KEY)
    if found is None:
        offered = environ.get(ENVIRON_HEADER, "")
        found = offered if VALID_ID.fullmatch(offered) else str(uuid.uuid4())
        environ[ID_KEY] = found
    return str(found)


def current_request_id() -> str | None:
    return request_id(request.environ) if has_request_context() else None


class JsonFormatter(logging.Formatter):
    """One JSON object per record; request fields from the record, else the current request."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        line.update(_request_fields(record))
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = scrub(record.exc_text)
        # json.dumps escapes C0 controls and, with ensure_ascii, everything beyond ASCII
        # (C1 controls, U+2028...); DEL is the one control character it leaves as is.
        return json.dumps(line, ensure_ascii=True, default=str).replace("\x7f", "\\u007f")


def _request_fields(record: logging.LogRecord) -> dict[str, Any]:
    if all(hasattr(record, name) for name in REQUEST_FIELDS):
        return {name: getattr(record, name) for name in REQUEST_FIELDS}
    if not has_request_context() or ID_KEY not in request.environ:
        return {}
    return {
        "request_id": request.environ[ID_KEY],
        "method": _method(request.environ),
        "endpoint": request.endpoint or UNMATCHED,
    }


def _method(environ: dict[str, Any]) -> str:
    method = str(environ.get("REQUEST_METHOD", ""))
    return method if METHOD.fullmatch(method) else "other"


def use_json_logs() -> None:
    """Give the root logger's plain console handlers (logging.basicConfig's) the JSON format.

    Handlers of other kinds (files, pytest's capture) are left alone."""
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and not isinstance(
            handler.formatter, JsonFormatter
        ):
            handler.setFormatter(JsonFormatter())


def init_request_log(app: Flask) -> None:
    """JSON logs, a request id on every request of `app`, and one access line each."""
    use_json_logs()
    app.extensions["request_log"] = True

    @app.teardown_request
    def note_endpoint(_error: BaseException | None) -> None:
        request.environ.setdefault(ENDPOINT_KEY, request.endpoint or UNMATCHED)

    app.wsgi_app = RequestLogMiddleware(app.wsgi_app)  # type: ignore[method-assign]


StartResponse = Callable[..., Any]


class RequestLogMiddleware:
    """Gives each request its id, echoes it, and writes the access line when it is answered."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app
        self.log = logging.getLogger(ACCESS_LOGGER)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        rid = request_id(environ)
        started = time.perf_counter()
        seen: list[int] = []

        def start_with_id(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen[:] = [int(status.split(" ", 1)[0])]
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()]
            headers.append((HEADER, rid))
            return start_response(status, headers, *args)

        try:
            return self.wsgi_app(environ, start_with_id)
        except BaseException:
            seen[:] = [500]
            raise
        finally:
            method = _method(environ)
            endpoint = str(environ.get(ENDPOINT_KEY, UNMATCHED))
            status = seen[0] if seen else 0
            self.log.info(
                "%s %s %s",
                method,
                endpoint,
                status,
                extra={
                    "request_id": rid,
                    "method": method,
                    "endpoint": endpoint,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )

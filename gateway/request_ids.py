"""What identifies the request a log line belongs to: its id, trace, method and endpoint.

Shared by the JSON log lines (gateway/request_log.py) and the security event records
(gateway/security_events.py), which both name the request they were written in.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Any

from flask import Flask, has_request_context, request

from gateway.request_trace import CURRENT_TRACE, random_bytes, trace_of

HEADER = "X-Request-Id"
ENVIRON_HEADER = "HTTP_X_REQUEST_ID"
ID_KEY = "gateway.request_id"
ENDPOINT_KEY = "gateway.endpoint"  # set on the WSGI environ at the end of each request
UNMATCHED = "unmatched"
VALID_ID = re.compile(r"[A-Za-z0-9._:=-]{8,128}")
METHOD = re.compile(r"[A-Z]{1,16}")

REQUEST_FIELDS = ("request_id", "trace_id", "span_id", "method", "endpoint")
# The id of the request being answered, for code it runs in a copied context (worker threads).
CURRENT_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)


def request_id(environ: dict[str, Any]) -> str:
    """This request's id: the caller's valid `X-Request-Id`, else a new one (kept on environ)."""
    found = environ.get(ID_KEY)
    if found is None:
        offered = environ.get(ENVIRON_HEADER, "")
        found = offered if VALID_ID.fullmatch(offered) else _new_id(environ)
        environ[ID_KEY] = found
    return str(found)


def _new_id(environ: dict[str, Any]) -> str:
    """A random (version 4) UUID, as `uuid.uuid4()` makes, from the request's one draw."""
    return uuid4_text(random_bytes(environ, 16))


def uuid4_text(raw: bytes) -> str:
    """`str(uuid.UUID(bytes=raw, version=4))` without building the UUID object: the version
    and variant bits set, the hex grouped 8-4-4-4-12."""
    found = bytearray(raw)
    found[6] = found[6] & 0x0F | 0x40
    found[8] = found[8] & 0x3F | 0x80
    text = found.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def install_endpoint_note(app: Flask) -> None:
    """Name the matched route on the WSGI environ when a request ends, for the wrappers
    outside Flask (metrics, the access line): one hook however many of them ask for it."""
    if note_endpoint not in app.teardown_request_funcs.get(None, []):
        app.teardown_request(note_endpoint)


def note_endpoint(_error: BaseException | None) -> None:
    environ = request.environ
    if ENDPOINT_KEY not in environ:
        environ[ENDPOINT_KEY] = request.endpoint or UNMATCHED


def current_request_id() -> str | None:
    return request_id(request.environ) if has_request_context() else None


def request_fields(record: logging.LogRecord | None) -> dict[str, Any]:
    """The request fields of a log line: the record's own, else the current request's, else
    the id and trace a worker thread was given (CURRENT_ID, CURRENT_TRACE)."""
    if record is not None and all(hasattr(record, name) for name in REQUEST_FIELDS):
        return {name: getattr(record, name) for name in REQUEST_FIELDS}
    if not has_request_context() or ID_KEY not in request.environ:
        rid, trace = CURRENT_ID.get(), CURRENT_TRACE.get()
        found = {"request_id": rid} if rid else {}
        if trace is not None:
            found |= {"trace_id": trace.trace_id, "span_id": trace.span_id}
        return found
    trace = trace_of(request.environ)
    return {
        "request_id": request.environ[ID_KEY],
        "trace_id": trace.trace_id,
        "span_id": trace.span_id,
        "method": method_of(request.environ),
        "endpoint": request.endpoint or UNMATCHED,
    }


def method_of(environ: dict[str, Any]) -> str:
    method = str(environ.get("REQUEST_METHOD", ""))
    return method if METHOD.fullmatch(method) else "other"

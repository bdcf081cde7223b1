"""JSON log lines, each carrying the id of the request it belongs to.

Every record becomes one line of JSON: `time` (UTC), `level`, `logger`, `message`, and
inside a request `request_id`, `trace_id`, `span_id`, `method` and `endpoint`. One access
line per request (logger `gateway.access`) adds `status` and `duration_ms`.

The request id is the caller's `X-Request-Id` when it looks like one (8 to 128 of
`A-Z a-z 0-9 . _ : = -`: a UUID, a proxy's or load balancer's own format such as
`Root=1-67a...`), otherwise a new UUID; the response echoes it.

Nothing else of the request is logged: not the path (it holds room and user ids; `endpoint` is the
route's name), not the query string (codes, states), no other header, no client address.
JSON encoding escapes CR, LF and every other control character, so a value cannot forge a
line (log injection). An exception is named by its type only, never with its traceback.
As a last line of defence, messages are scrubbed of anything that
looks like a credential parameter, a URL's user:password, a bearer token, a JWT or an
e-mail address (gateway/log_redaction.py; `redact_url` there is the same rule for a URL
printed anywhere else). Trace Context (the request's trace and span ids, `traceresponse`)
is read and written by gateway/request_trace.py.

Security events, one record each on the logger `gateway.security`, are written by
gateway/security_events.py (`security_event`, re-exported here for its callers); the
request's id and the fields naming it come from gateway/request_ids.py.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from connectors import trace_context
from gateway.log_redaction import kind_of, scrub
from gateway.request_ids import (
    CURRENT_ID,
    ENDPOINT_KEY,
    HEADER,
    UNMATCHED,
    install_endpoint_note,
    method_of,
    request_fields,
    request_id,
)
from gateway.request_trace import CURRENT_TRACE, TRACERESPONSE, Trace, trace_of
from gateway.security_events import EVENT_FIELDS, record_refusal
from gateway.security_events import security_event as security_event

ACCESS_LOGGER = "gateway.access"
ACCESS_FIELDS = ("status", "duration_ms")
OWN_HEADERS = frozenset({HEADER.lower(), TRACERESPONSE})  # set here, never passed on from the app


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
        line.update(request_fields(record))
        if hasattr(record, "action"):
            for name in EVENT_FIELDS:
                line[name] = _scrubbed(getattr(record, name, ""))
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info and record.exc_info[1] is not None:
            # the type only, never the traceback: its frames' text and the exception's
            # message can hold request data (paths, codes, tokens)
            line["exception"] = kind_of(record.exc_info[1])
        # json.dumps escapes C0 controls and, with ensure_ascii, everything beyond ASCII
        # (C1 controls, U+2028...); DEL is the one control character it leaves as is.
        return json.dumps(line, ensure_ascii=True, default=str).replace("\x7f", "\\u007f")


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {str(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(v) for v in value]
    return value


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
    app.after_request(record_refusal)
    install_endpoint_note(app)

    app.wsgi_app = RequestLogMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, app.extensions.get("error_tally")
    )


StartResponse = Callable[..., Any]


INTERNAL_ERROR = b'{"error":"internal_error","message":"Something went wrong on our side."}\n'


class RequestLogMiddleware:
    """Gives each request its id, echoes it, and writes the access line when it is answered.

    An exception that escapes the app (a WSGI wrapper inside this one failed) ends here, as
    the generic 500, logged by its type through `tally`: otherwise the server (gunicorn,
    Werkzeug) would log it with its traceback and the request's path."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], tally: Any = None) -> None:
        self.wsgi_app = wsgi_app
        self.tally = tally
        self.log = logging.getLogger(ACCESS_LOGGER)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        rid = request_id(environ)
        trace = trace_of(environ)
        current = CURRENT_ID.set(rid)
        current_trace = CURRENT_TRACE.set(trace)
        outgoing = trace_context.OUTGOING.set((trace.traceparent, trace.state))
        started = time.perf_counter()
        seen: list[int] = []

        def start_with_id(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen[:] = [int(status.split(" ", 1)[0])]
            headers = [(k, v) for k, v in headers if k.lower() not in OWN_HEADERS]
            headers.append((HEADER, rid))
            headers.append((TRACERESPONSE, trace.traceparent))
            return start_response(status, headers, *args)

        try:
            return self.wsgi_app(environ, start_with_id)
        except Exception as error:
            seen[:] = [500]
            if self.tally is None:
                raise
            self.tally.report(f"unhandled {kind_of(error)}")
            headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
            start_with_id("500 INTERNAL SERVER ERROR", headers, sys.exc_info())
            return [INTERNAL_ERROR]
        except BaseException:
            seen[:] = [500]
            raise
        finally:
            CURRENT_ID.reset(current)
            CURRENT_TRACE.reset(current_trace)
            trace_context.OUTGOING.reset(outgoing)
            if self.log.isEnabledFor(logging.INFO):  # off (a WARNING level): nothing to build
                self._access_line(environ, rid, trace, seen, started)

    def _access_line(
        self, environ: dict[str, Any], rid: str, trace: Trace, seen: list[int], started: float
    ) -> None:
        """The request's one access line: method, endpoint, status, ids and duration."""
        method = method_of(environ)
        endpoint = str(environ.get(ENDPOINT_KEY, UNMATCHED))
        status = seen[0] if seen else 0
        self.log.info(
            "%s %s %s",
            method,
            endpoint,
            status,
            extra={
                "request_id": rid,
                "trace_id": trace.trace_id,
                "span_id": trace.span_id,
                "method": method,
                "endpoint": endpoint,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

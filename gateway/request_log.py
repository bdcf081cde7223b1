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

Security events (ASVS 5.0 16.2.1, 16.3.1-16.3.4) are written by `security_event` as ONE
record each, on the logger `gateway.security`: the line above plus `action`, `outcome`,
`actor`, `subject` and `detail` (ids and codes only, never a token, code, state or e-mail).
The actor is an opaque user id, `client:<id>` for an API client, `provider`, `system` or
`anonymous`. Event → record:

    login ok                 login / success        services/signin.py (callback)
    login failed             login / failure        blueprints/auth.py (any SignInError on
                                                    the callback: bad state, provider error)
    consent given            consent.give / success services/consent.py
    consent refused          consent.give / refused services/consent.py (scopes withheld)
    consent withdrawn        consent.withdraw / success  services/consent.py
    refresh failure          token.refresh / failure     services/grants.py (invalid_grant,
                                                    scope lost, provider error)
    revoke (user, admin)     grant.revoke / success services/revocation.py (actor tells who)
    admin: end sessions      sessions.end / success blueprints/admin.py
    admin: rooms, clients    room.* / api_client.* / success  services/rooms.py, api_clients.py
    erasure                  account.erase / success      services/privacy.py
    authorization deny       authz.deny / denied    here, for a 401 or 403, or a 404 from a
                                                    route (absent and not-yours answer alike)
    input reject             input.reject / rejected  here, for 400, 405, 413, 415, 422 or a
                                                    404 no route matched

The last two come from one after-request hook and only when the request recorded no event
of its own, so a refused sign-in is one `login` record, not also an `input.reject`. The
access line (`gateway.access`) is not an event record. Data-changing events also write one
entry to the audit stream (gateway/storage/audit.py; the catalogue's `audit_events` say
which), which is the durable, pseudonymised trail; the JSON line is the operational one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request, session

from connectors import trace_context
from gateway.log_redaction import kind_of, scrub
from gateway.request_trace import CURRENT_TRACE, TRACERESPONSE, trace_of

HEADER = "X-Request-Id"
ENVIRON_HEADER = "HTTP_X_REQUEST_ID"
ID_KEY = "gateway.request_id"
ENDPOINT_KEY = "gateway.endpoint"  # set on the WSGI environ at the end of each request
UNMATCHED = "unmatched"
ACCESS_LOGGER = "gateway.access"
SECURITY_LOGGER = "gateway.security"
EVENTS_KEY = "gateway.security_events"  # how many events this request has recorded
EVENT_FIELDS = ("action", "outcome", "actor", "subject", "detail")
DENIED = frozenset({401, 403})
REJECTED = frozenset({400, 405, 413, 415, 422})
VALID_ID = re.compile(r"[A-Za-z0-9._:=-]{8,128}")
METHOD = re.compile(r"[A-Z]{1,16}")

REQUEST_FIELDS = ("request_id", "trace_id", "span_id", "method", "endpoint")
# The id of the request being answered, for code it runs in a copied context (worker threads).
CURRENT_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)
ACCESS_FIELDS = ("status", "duration_ms")


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


def security_event(
    action: str, outcome: str, *, actor: str, subject: str = "", **detail: Any
) -> None:
    """Write the one JSON record of a security event (see the module docstring)."""
    extra: dict[str, Any] = {
        "action": action,
        "outcome": outcome,
        "actor": actor or "anonymous",
        "subject": subject,
        "detail": detail,
    }
    if has_request_context():
        request.environ[EVENTS_KEY] = int(request.environ.get(EVENTS_KEY, 0)) + 1
        # on the record itself, so a handler that formats later still names the request
        extra.update(_request_fields(None))
    level = logging.INFO if outcome == "success" else logging.WARNING
    logging.getLogger(SECURITY_LOGGER).log(level, "%s %s", action, outcome, extra=extra)


def _caller() -> str:
    """Who is asking, for a refusal record: the API client, else the signed-in user."""
    found = g.get("api_caller")
    if found is not None:
        return f"client:{found.id}" if found.kind == "client" else str(found.id)
    uid = session.get("uid")
    return uid if isinstance(uid, str) else "anonymous"


def record_refusal(response: Response) -> Response:
    """One `authz.deny` or `input.reject` record for a refused request that wrote none."""
    status = response.status_code
    if request.environ.get(EVENTS_KEY):
        return response
    if status in DENIED or (status == 404 and request.endpoint):
        action, outcome = "authz.deny", "denied"
    elif status in REJECTED or status == 404:
        action, outcome = "input.reject", "rejected"
    else:
        return response
    endpoint = request.endpoint or UNMATCHED
    security_event(action, outcome, actor=_caller(), subject=endpoint, status=status)
    return response


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


def _request_fields(record: logging.LogRecord | None) -> dict[str, Any]:
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
    app.after_request(record_refusal)

    @app.teardown_request
    def note_endpoint(_error: BaseException | None) -> None:
        request.environ.setdefault(ENDPOINT_KEY, request.endpoint or UNMATCHED)

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
        ours = {HEADER.lower(), TRACERESPONSE}

        def start_with_id(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen[:] = [int(status.split(" ", 1)[0])]
            headers = [(k, v) for k, v in headers if k.lower() not in ours]
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
                    "trace_id": trace.trace_id,
                    "span_id": trace.span_id,
                    "method": method,
                    "endpoint": endpoint,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )

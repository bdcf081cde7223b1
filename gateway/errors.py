"""One error shape for programs, a friendly page for people, and never a stack trace.

API clients (paths under /v1/, the health probes, or anyone asking for JSON first) get
`{"error": code, "message": text}`; browsers get the error page. Unexpected exceptions are
logged with their type only — request data can hold codes and tokens — and answered with a
generic 500.

Errors of one kind are logged once per interval, not once each (`ErrorTally`): the first at
once, then one line per interval with how many followed, e.g. `storage error:
redis.exceptions.OutOfMemoryError x 1234 in the last 10 s` (a Redis outage under load
otherwise writes a line, or a traceback, per request).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from flask import (
    Flask,
    Response,
    current_app,
    has_app_context,
    jsonify,
    render_template,
    render_template_string,
    request,
    session,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from gateway import metrics
from gateway.log_redaction import kind_of
from gateway.services.signin_errors import SignInError

# re-exported: blueprints and the CLI catch them
from gateway.storage.errors import StorageCredentialsRefused as StorageCredentialsRefused
from gateway.storage.errors import StorageError
from gateway.storage.errors import StorageUnreachable as StorageUnreachable

log = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/webhooks/")
# Every "storage is not answering" 503 says when to try again: soon. A Redis restart or a
# Sentinel failover lasts seconds (deploy/REDIS.md), and a client that honours the header
# must be back as soon as storage is.
STORAGE_RETRY_AFTER = {"Retry-After": "5"}
BARE_ERROR_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>{{ status }}</title>"
    "<h1>That did not work</h1><p role=alert>{{ message }}</p>"
    "<p>Error code: <code>{{ code }}</code> ({{ status }})</p></html>"
)


@dataclass
class _Window:
    timer: threading.Timer
    count: int = 0


class ErrorTally:
    """Logs the first error of a kind at once, then one count per interval while it lasts.

    A kind is a short fixed text (e.g. `storage error: redis.exceptions.ConnectionError`),
    never request data. A timer closes each interval: if more of the kind came in it, one
    line says how many and a new interval starts; if none came, the kind is forgotten and
    the next one is again logged at once."""

    def __init__(self, logger: logging.Logger, interval_seconds: float = 10.0) -> None:
        self.log = logger
        self.interval = interval_seconds
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def report(self, kind: str) -> None:
        with self._lock:
            window = self._windows.get(kind)
            if window is not None:
                window.count += 1
                return
            self._windows[kind] = _Window(self._arm(kind))
        self.log.error("%s", kind)

    def pending(self) -> bool:
        """Whether an interval is still open (its count not yet logged)."""
        with self._lock:
            return bool(self._windows)

    def _arm(self, kind: str) -> threading.Timer:
        timer = threading.Timer(self.interval, self._close, (kind,))
        timer.daemon = True
        timer.start()
        return timer

    def _close(self, kind: str) -> None:
        with self._lock:
            window = self._windows[kind]
            count = window.count
            if not count:
                del self._windows[kind]
                return
            self._windows[kind] = _Window(self._arm(kind))
        self.log.error("%s x %d in the last %g s", kind, count, self.interval)


class _TallyExceptions(logging.Filter):
    """Turns a record that carries an exception into a report to the current app's tally
    (one filter on the logger, which every app of the same name shares), and drops it."""

    def __init__(self, fallback: ErrorTally) -> None:
        super().__init__()
        self.fallback = fallback

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        tally = current_app.extensions.get("error_tally") if has_app_context() else None
        (tally or self.fallback).report(f"unhandled {kind_of(record.exc_info[1])}")
        return False


def wants_json() -> bool:
    if request.path.startswith(API_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, code: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=code, message=message), status
    try:
        page = render_template("error.html", status=status, code=code, message=message)
    except Exception:  # e.g. an untrusted Host: no URL adapter, so no url_for
        page = render_template_string(BARE_ERROR_PAGE, status=status, code=code, message=message)
    return page, status


def _code_for(error: HTTPException) -> str:
    name = error.name or "error"
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def register_error_handlers(app: Flask, *, interval_seconds: float = 10.0) -> ErrorTally:
    """The handlers below, and Flask's own last-resort logging, all through one tally."""
    tally = ErrorTally(log, interval_seconds)
    app.extensions["error_tally"] = tally

    # Flask logs an exception raised outside a view (saving the session, an error handler)
    # on app.logger with its traceback and the path; it is counted here by its type instead.
    if not any(isinstance(f, _TallyExceptions) for f in app.logger.filters):
        app.logger.addFilter(_TallyExceptions(tally))

    @app.before_request
    def refuse_without_storage() -> tuple[Response | str, int, dict[str, str]] | None:
        """A session that could not be read is not "signed out": nothing is served."""
        if getattr(session, "unavailable", False) and not request.path.startswith("/healthz"):
            failure = getattr(session, "failure", None)
            if failure is not None:
                tally.report(f"storage error: {kind_of(failure)}")
                metrics.redis_error(failure)
            body, status = error_response(
                503, "storage_unavailable", "Storage is not answering; try again."
            )
            return body, status, STORAGE_RETRY_AFTER
        return None

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        if request.path.startswith("/v1/") and not isinstance(session.get("uid"), str):
            # No session, so nothing a token could protect: the caller is not signed in.
            return error_response(401, "unauthorized", "Sign in first.")
        return error_response(
            400,
            "csrf_failed",
            "This form has expired or did not come from this site. Reload the page and try again.",
        )

    @app.errorhandler(SignInError)
    def sign_in_refused(error: SignInError):
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        message = error.description or error.name
        if status == 413:
            message = "The request body is too large."
        body, status = error_response(status, _code_for(error), message)
        # RFC 9110 §15.5.6: a 405 lists the methods the resource has.
        allowed = getattr(error, "valid_methods", None)
        return body, status, {"Allow": ", ".join(sorted(allowed))} if allowed else {}

    @app.errorhandler(StorageError)
    def storage_unavailable(error: StorageError):
        tally.report(f"storage error: {kind_of(error)}")
        metrics.redis_error(error)
        body, status = error_response(
            503, "storage_unavailable", "Storage is not answering; try again."
        )
        return body, status, STORAGE_RETRY_AFTER

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        tally.report(f"unhandled {kind_of(error)}")
        return error_response(500, "internal_error", "Something went wrong on our side.")

    return tally

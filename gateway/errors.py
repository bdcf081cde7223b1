"""One error shape for programs, a friendly page for people, and never a stack trace.

API clients (paths under /v1/, the health probes, or anyone asking for JSON first) get
`{"error": code, "message": text}`; browsers get the error page. Unexpected exceptions are
logged with their type only — request data can hold codes and tokens — and answered with a
generic 500.
"""

from __future__ import annotations

import logging
import re

import redis
from flask import (
    Flask,
    Response,
    jsonify,
    render_template,
    render_template_string,
    request,
    session,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from gateway import metrics
from gateway.services.signin import SignInError

log = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/healthz", "/readyz")
# Every "storage is not answering" 503 says when to try again: soon. A Redis restart or a
# Sentinel failover lasts seconds (deploy/REDIS.md), and a client that honours the header
# must be back as soon as storage is.
STORAGE_RETRY_AFTER = {"Retry-After": "5"}
BARE_ERROR_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>{{ status }}</title>"
    "<h1>That did not work</h1><p role=alert>{{ message }}</p>"
    "<p>Error code: <code>{{ code }}</code> ({{ status }})</p></html>"
)


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


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def refuse_without_storage() -> tuple[Response | str, int, dict[str, str]] | None:
        """A session that could not be read is not "signed out": nothing is served."""
        if getattr(session, "unavailable", False) and not request.path.startswith("/healthz"):
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

    @app.errorhandler(redis.RedisError)
    def storage_unavailable(error: redis.RedisError):
        log.error("storage error: %s", type(error).__name__)
        metrics.redis_error(error)
        body, status = error_response(
            503, "storage_unavailable", "Storage is not answering; try again."
        )
        return body, status, STORAGE_RETRY_AFTER

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.error("unhandled %s on %s %s", type(error).__name__, request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong on our side.")

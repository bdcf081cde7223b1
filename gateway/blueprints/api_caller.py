"""Who is asking the booking API (/v1): an API client by its Bearer credential, or the
signed-in user; resolved once per request (the rate limiter asks first, then the view)."""

from __future__ import annotations

from typing import cast

from flask import g, request
from werkzeug.wrappers import Response

from gateway.blueprints.guards import current_uid
from gateway.context import services
from gateway.errors import StorageError, error_response
from gateway.services.callers import Caller, user_caller

_UNRESOLVED = object()  # g holds no caller yet (None is a resolved "nobody")


def request_caller() -> Caller | None:
    """The caller of this request, resolved once (the rate limiter asks first).

    A storage failure is remembered as well: the limiter asks several times and then the
    view, and each asking a hung Redis again would stack their timeouts far past 2 s.
    """
    known = g.get("api_caller", _UNRESOLVED)  # one look at g when already resolved
    if known is not _UNRESOLVED:
        return cast("Caller | None", known)
    if "api_caller_error" in g:
        raise g.api_caller_error
    try:
        g.api_caller = found = _resolve_caller()
    except StorageError as error:
        g.api_caller_error = error
        raise
    return found


def bearer_presented() -> bool:
    return "Authorization" in request.headers


def _resolve_caller() -> Caller | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        return services().clients.authenticate(secret.strip())
    uid = current_uid()
    return user_caller(uid) if uid else None


def unauthorized() -> tuple[Response | str, int, dict[str, str]]:
    if bearer_presented():
        # RFC 6750 §3.1: the same answer for unknown, wrong, disabled or malformed.
        challenge = 'Bearer realm="gateway", error="invalid_token"'
        message = "The credential is not valid."
    else:
        challenge = 'Bearer realm="gateway"'
        message = "Send 'Authorization: Bearer <client secret>', or sign in."
    body, status = error_response(401, "unauthorized", message)
    return body, status, {"WWW-Authenticate": challenge}


def caller() -> Caller:
    """The caller of a request the blueprint let through (it answers 401 without one)."""
    found = request_caller()
    assert found is not None
    return found

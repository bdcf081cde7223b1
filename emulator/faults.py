"""Counting and fault injection around every provider endpoint.

`@endpoint("google.token")` counts each call and, when a fault is queued for that name,
delays, answers with a provider-shaped error, a malformed body, or `invalid_grant` instead.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import Response, current_app

from emulator.errors import aad_error, google_api_error, graph_error, oauth_error
from emulator.records import Fault
from emulator.state import EmulatorState

# Endpoints answering in the Calendar API's and in Graph's error envelopes.
GOOGLE_APIS = frozenset({"google.freebusy", "google.watch", "google.channels_stop"})
GRAPH_APIS = frozenset({"microsoft.getschedule", "microsoft.rooms", "microsoft.subscriptions"})
MALFORMED_BODY = '{"access_token": "ya29.trunc'  # cut off mid-value: not JSON


def current_state() -> EmulatorState:
    state: EmulatorState = current_app.extensions["emulator"]
    return state


def endpoint(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Count calls to the view under `name` and apply the fault queued for it, if any."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            fault = current_state().hit(name)
            if fault is not None:
                if fault.delay_ms > 0:
                    time.sleep(fault.delay_ms / 1000)
                answer = fault_response(name, fault)
                if answer is not None:
                    return answer
            return view(*args, **kwargs)

        return guarded

    return wrap


def fault_response(name: str, fault: Fault) -> Response | None:
    """The answer a fault replaces the real one with; None for a pure delay."""
    if fault.error == "invalid_grant":
        response = invalid_grant(name)
    elif fault.error == "interaction_required":  # MFA or Conditional Access (AADSTS50076)
        response = aad_error("interaction_required", "interaction_required")
    elif fault.error == "insufficient_scope":
        response = insufficient_scope(name)
    elif fault.body == "malformed":
        response = Response(MALFORMED_BODY, status=fault.status or 200, mimetype="application/json")
    elif fault.status is not None:
        response = status_response(name, fault.status)
    else:
        return None
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response


def invalid_grant(name: str) -> Response:
    if name.startswith("microsoft."):
        return aad_error("invalid_grant", "invalid_grant")
    return oauth_error("invalid_grant", "Token has been expired or revoked.")


def insufficient_scope(name: str) -> Response:
    """The API's 403 for a token without the scope the call needs."""
    if name.startswith("microsoft."):
        return graph_error(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    return google_api_error(
        403, "insufficientPermissions", "Request had insufficient authentication scopes."
    )


def status_response(name: str, status: int) -> Response:
    """A provider-shaped error body for an injected HTTP status."""
    if name in GOOGLE_APIS:
        if status in (403, 429):
            return google_api_error(
                status, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits"
            )
        if status == 401:
            return google_api_error(
                401,
                "authError",
                "Invalid Credentials",
                locationType="header",
                location="Authorization",
            )
        return google_api_error(status, "backendError", "Backend Error")
    if name in GRAPH_APIS:
        if status == 429:
            return graph_error(429, "TooManyRequests", "Please retry again later.")
        if status == 503:
            return graph_error(503, "ServiceNotAvailable", "Service unavailable.")
        return graph_error(status, "generalException", "An error occurred.")
    error = "temporarily_unavailable" if status in (429, 503) else "server_error"
    if status < 500 and status != 429:
        error = "invalid_request"
    if name.startswith("microsoft.") and error in ("temporarily_unavailable", "server_error"):
        return aad_error(error, error, status)
    if name.startswith("microsoft."):
        return aad_error(error, "invalid_request", status, param="client_id")
    return oauth_error(error, "Injected fault.", status)

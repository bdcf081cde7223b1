"""Example error answers of the API, for /api and /openapi.json: the generic ones by status,
and `error_examples`, which picks those that apply to one route.

Error messages are the code's own (tests/gateway/test_openapi_examples.py sends the request
behind each and compares), and every limit in them comes from the constant the code
enforces. An operation's own error examples are in gateway/openapi_examples.py.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from gateway.errors import STORAGE_RETRY_AFTER
from gateway.limits import ANONYMOUS_RATE_LIMIT, USER_RATE_LIMIT
from gateway.services.api_clients import DEFAULT_RATE_LIMIT

# (error code, message) of one example answer
Refusal = tuple[str, str]


def too_many(limit: str) -> Refusal:
    """The 429 of `limit`, whose message says it as the `limits` library does: "600/minute"
    is "600 per 1 minute"."""
    count, _, per = limit.partition("/")
    return ("rate_limited", f"Too many requests: the limit is {count} per 1 {per}.")


NO_CREDENTIAL: Refusal = (
    "unauthorized",
    "Send 'Authorization: Bearer <client secret>', or sign in.",
)
SIGN_IN_FIRST: Refusal = ("unauthorized", "Sign in first.")
STORAGE: Refusal = ("storage_unavailable", "Storage is not answering; try again.")
STORAGE_RETRY_SECONDS = int(STORAGE_RETRY_AFTER["Retry-After"])
# By status; an operation's own `errors` replace the ones of a status it names.
GENERIC_ERRORS: dict[int, dict[str, Refusal]] = {
    400: {
        "csrf_failed": (
            "csrf_failed",
            "A signed-in session must send its CSRF token in the "
            "X-CSRFToken header (or use a Bearer credential).",
        )
    },
    401: {
        "no_credential": NO_CREDENTIAL,
        "invalid_credential": ("unauthorized", "The credential is not valid."),
    },
    403: {"not_an_admin": ("forbidden", "This needs an administrator.")},
    404: {"no_such_room": ("room_not_found", "no such room: nowhere")},
    413: {"too_large": ("request_entity_too_large", "The request body is too large.")},
    429: {
        "api_client": too_many(DEFAULT_RATE_LIMIT),
        "signed_in_user": too_many(USER_RATE_LIMIT),
        "anonymous": too_many(ANONYMOUS_RATE_LIMIT),
    },
    503: {"storage": STORAGE},
}
SESSION_ONLY_ERRORS: dict[int, dict[str, Refusal]] = {
    400: {
        "csrf_failed": (
            "csrf_failed",
            "This form has expired or did not come from this site. Reload the page and try again.",
        )
    },
    401: {"not_signed_in": SIGN_IN_FIRST},
}


def error_examples(
    status: int, auth: Collection[str], *, takes_csrf: bool, own: Mapping[str, Refusal]
) -> dict[str, Any]:
    """Named example answers of one error status, as OpenAPI Example objects: the generic
    ones that apply to the route (a session-only route has its own CSRF and 401 answers; a
    route without a CSRF token to miss has no CSRF one; a route with 404s of its own has
    not the generic one, a room's), then the operation's `own`."""
    generic = GENERIC_ERRORS if "bearer" in auth else SESSION_ONLY_ERRORS
    found = dict(generic.get(status) or GENERIC_ERRORS.get(status, {}))
    if (status == 400 and not takes_csrf) or (status == 404 and own):
        found = {}  # no CSRF token to miss; a 404 of its own (the generic one is a room's)
    if status == 429 and "bearer" not in auth:
        found.pop("api_client", None)
    found.update(own)
    return {
        name: {"summary": name.replace("_", " "), "value": {"error": code, "message": message}}
        for name, (code, message) in (found or {"refused": ("refused", "Refused.")}).items()
    }

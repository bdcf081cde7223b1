"""Error bodies exactly as each provider shapes them (PROTOCOLS.md §1.3, §1.7, §2.2, §2.7).

Four envelopes: RFC 6749 `{error, error_description}` (Google's and the generic token
endpoints), Entra's AADSTS envelope, Google APIs' `{"error": {"errors": [...]}}` and
Microsoft Graph's OData `{"error": {"code", "message", "innerError"}}`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify

# AADSTS codes for the Entra token errors the emulator produces [observed codes].
AADSTS = {
    "interaction_required": (
        50076,
        "Due to a configuration change made by your administrator, or because you moved "
        "to a new location, you must use multi-factor authentication to access this "
        "resource.",
    ),
    "invalid_grant": (
        70008,
        "The provided authorization code or refresh token has expired due "
        "to inactivity. Send a new interactive authorization request for this "
        "user and resource.",
    ),
    "code_redeemed": (
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with "
        "a new valid code or use an existing refresh token.",
    ),
    "pkce": (
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the "
        "authorization request.",
    ),
    "revoked": (
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth "
        "token is needed. The user might have changed or reset their password.",
    ),
    "redirect_uri": (
        50148,
        "The redirect_uri specified in the token request does not match "
        "the redirect_uri used when acquiring the authorization code.",
    ),
    "invalid_client": (
        7000215,
        "Invalid client secret provided. Ensure the secret being sent "
        "in the request is the client secret value, not the client secret ID.",
    ),
    "consent": (
        65001,
        "The user or administrator has not consented to use the application "
        "with ID '{client_id}'. Send an interactive authorization request for this user "
        "and resource.",
    ),
    "invalid_request": (
        900144,
        "The request body must contain the following parameter: '{param}'.",
    ),
    "unsupported_grant_type": (70003, "The app requested an unsupported grant type."),
    "invalid_tenant": (
        90002,
        "Tenant '{tenant}' not found. Check to make sure you have the "
        "correct tenant ID and are signing into the correct cloud.",
    ),
    "temporarily_unavailable": (50196, "The server is temporarily unavailable."),
    "server_error": (
        50000,
        "There was an error issuing a token or an issue with our sign-in service.",
    ),
}


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """RFC 6749 §5.2, as Google's token and revoke endpoints answer."""
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def aad_error(error: str, kind: str, status: int = 400, **fill: str) -> Response:
    """Entra's token error envelope with an AADSTS code and trace ids."""
    code, text = AADSTS[kind]
    now = datetime.now(UTC)
    trace = str(uuid.uuid4())
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {text.format(**fill)} Trace ID: {trace} "
        f"Correlation ID: {uuid.uuid4()} Timestamp: {now:%Y-%m-%d %H:%M:%SZ}",
        "error_codes": [code],
        "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}",
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
    }
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def google_api_error(
    status: int,
    reason: str,
    message: str,
    domain: str = "global",
    **extra: str,
) -> Response:
    """Google APIs' error envelope (calendar.v3, e.g. rateLimitExceeded, authError)."""
    item: dict[str, Any] = {"domain": domain, "reason": reason, "message": message, **extra}
    response = jsonify({"error": {"errors": [item], "code": status, "message": message}})
    response.status_code = status
    return response


def graph_error(status: int, code: str, message: str) -> Response:
    """Microsoft Graph's OData error envelope with its innerError."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": now,
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }
    response = jsonify(body)
    response.status_code = status
    return response


def control_error(error: str, message: str, status: int = 400) -> Response:
    """The control API's one error shape."""
    response = jsonify({"error": error, "message": message})
    response.status_code = status
    return response

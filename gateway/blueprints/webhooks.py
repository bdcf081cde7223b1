"""Where providers post their notifications: `/webhooks/<provider name>`.

Only an authenticated notification does anything (its channel's secret, checked in constant
time by services/watches.py); anything else is a 4xx JSON error that changes nothing, never
a 5xx. The body is read (bounded) and handed to the provider's connector, never stored or
logged. Counted per provider name against a rate limit shared through Redis; CSRF-exempt
(app.py), since the caller is a provider, not a browser. A provider checking the address
before it opens a channel gets the handshake its connector reads from the request (Graph's
validation token, bounded by the connector), answered as text/plain so that it cannot be
read as a page; it changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, request

from connectors.notifications import NotificationRefused
from gateway.context import services
from gateway.errors import error_response
from gateway.services.watch_notices import UnknownProvider

webhooks = Blueprint("webhooks", __name__)

WEBHOOK_RATE_LIMIT = "300/second;20000/minute"  # per provider: a storm, not an outage
MAX_NOTIFICATION_BYTES = 64 * 1024  # Google's bodies are empty; a batch of Graph's is small
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a configured provider's name


@webhooks.post("/webhooks/<provider>")
def notification(provider: str) -> Any:
    if not PROVIDER_NAME.match(provider):
        return error_response(404, "not_found", "No such webhook.")
    refused = current_app.extensions["gateway_limiter"].hit(
        f"webhook:{provider}", WEBHOOK_RATE_LIMIT
    )
    if refused is not None:
        body, status = error_response(429, "rate_limited", "Too many notifications.")
        return body, status, {"Retry-After": str(refused.retry_after)}
    if (request.content_length or 0) > MAX_NOTIFICATION_BYTES:
        return error_response(413, "too_large", "A notification is at most 64 KiB.")
    data = request.get_data(cache=False)
    if len(data) > MAX_NOTIFICATION_BYTES:
        return error_response(413, "too_large", "A notification is at most 64 KiB.")
    try:
        outcome = services().watch_notices.receive(
            provider, request.headers, data, request.args.to_dict()
        )
    except UnknownProvider:
        return error_response(404, "not_found", "No such webhook.")
    except NotificationRefused:
        return error_response(400, "bad_notification", "This is not a notification.")
    if outcome.handshake is not None:
        return Response(outcome.handshake.body, mimetype=outcome.handshake.content_type)
    if outcome.status == 403:
        return error_response(403, "forbidden", "The notification's secret is not valid.")
    return Response(status=outcome.status)

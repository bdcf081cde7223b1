"""The admin JSON API for the change feed: an API client's webhook and its delivery log.

    GET /v1/admin/clients/<client_id>/webhook      the URL, when it was registered and the
                                                   events it receives; never its secret
    GET /v1/admin/clients/<client_id>/deliveries   the last deliveries, newest first: event
                                                   id and type, room, time, outcome, attempts;
                                                   never the secret, never an event's data

Registering and removing a webhook stay on the console and the CLI, where the secret is
shown once (blueprints/admin_clients.py, cli_clients.py). Both routes run on the admin's
session, as /v1/admin/rooms does; an unknown client, or one without a webhook, is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from gateway.blueprints.guards import admin_required
from gateway.context import services
from gateway.errors import error_response
from gateway.services.api_clients import ApiClientError
from gateway.services.change_feed import EVENTS
from gateway.services.intervals import rfc3339

admin_webhooks = Blueprint("admin_webhooks", __name__, url_prefix="/v1/admin/clients")
LOGGED = ("id", "type", "room", "at", "status", "answer", "attempts")  # all a log entry shows


@admin_webhooks.errorhandler(ApiClientError)
def refused(error: ApiClientError) -> Any:
    return error_response(error.status, error.code, error.message)


@admin_webhooks.get("/<client_id>/webhook")
@admin_required
def webhook(client_id: str) -> Response:
    found = services().change_feed.require_endpoint(client_id)
    return jsonify(
        client=client_id,
        url=found.url,
        created=rfc3339(datetime.fromtimestamp(found.created, UTC)),
        events=list(EVENTS),
    )


@admin_webhooks.get("/<client_id>/deliveries")
@admin_required
def deliveries(client_id: str) -> Response:
    services().clients.require(client_id)
    log = services().change_feed.deliveries(client_id)
    return jsonify(
        client=client_id, deliveries=[{k: entry.get(k) for k in LOGGED} for entry in log]
    )

"""Microsoft Graph change notifications on Outlook events (PROTOCOLS.md §2.9).

`POST /v1.0/subscriptions` validates the notification URL (and the lifecycle URL) before it
answers 201: Graph posts `?validationToken=...` and wants the decoded token back as
text/plain with a 200 within 10 seconds, else the create fails with 400. Notifications
carry ids only (no `includeResourceData`), the subscription's `clientState`, and expect a
2xx (202); push_graph_notices.py sends them. An event subscription lives at most 10,080
minutes and needs `Calendars.Read` (the create-subscription permissions table lists no
`Calendars.ReadBasic` for events). "Delegated permission supports subscribing to items in
folders in only the signed-in user's mailbox" (the same page): every token the emulator
issues is delegated, so a subscription on another mailbox (a room's) is refused with a 403
(its exact body at Graph is unverified).
Sources: learn.microsoft.com/graph/api/subscription-post-subscriptions,
learn.microsoft.com/graph/change-notifications-delivery-webhooks,
learn.microsoft.com/graph/change-notifications-lifecycle-events.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.calendar_busy import bearer
from emulator.deliveries import current_deliverer, deliverable
from emulator.errors import graph_error
from emulator.faults import current_state, endpoint
from emulator.push_graph_notices import graph_timestamp
from emulator.push_state import Subscription
from emulator.records import Account, Token

EVENT_SCOPES = frozenset({"Calendars.Read", "Calendars.ReadWrite"})
CHANGE_TYPES = ("created", "updated", "deleted")
MAX_MINUTES = 10_080  # Outlook events without resource data
MAX_CLIENT_STATE = 255
VALIDATION_FAILED = (
    "Subscription validation request failed. Notification endpoint must respond with "
    "200 OK to validation request."
)


def bad(message: str) -> Response:
    return graph_error(400, "InvalidRequest", message)


def not_found() -> Response:
    return graph_error(404, "ResourceNotFound", "The object was not found.")


def expiration_of(raw: Any) -> float | Response:
    if not isinstance(raw, str):
        return bad("expirationDateTime is required.")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return bad("expirationDateTime is not a valid date and time.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    if seconds <= time.time():
        return bad("Subscription expiration must be in the future.")
    if seconds > time.time() + MAX_MINUTES * 60:
        return bad(f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.")
    return seconds


def caller() -> tuple[Token, Account] | Response:
    found = bearer("microsoft")
    if found is None:
        return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.")
    if not EVENT_SCOPES & set(found[0].scopes):
        return graph_error(
            403,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: Forbidden; "
            "Reason: Access is denied. Check credentials and try again.]",
        )
    return found


def mailbox(account: Account, resource: str) -> tuple[str, str] | Response:
    """The address and object id of the mailbox whose events `resource` names."""
    parts = resource.strip("/").split("/")
    if parts[-2:] == ["calendar", "events"]:
        parts = [*parts[:-2], "events"]
    if parts == ["me", "events"]:
        return account.email, account.subject
    if len(parts) != 3 or parts[0].lower() != "users" or parts[2].lower() != "events":
        return bad(f"Resource '{resource}' is not supported; use me/events or users/{{id}}/events.")
    wanted = parts[1].lower()
    state = current_state()
    for person in state.provider_accounts("microsoft"):
        if person.tenant == account.tenant and wanted in (person.email, person.subject.lower()):
            return person.email, person.subject
    for room in state.rooms:
        address, room_id = str(room["emailAddress"]).lower(), str(room["id"]).lower()
        if room["tenant"] == account.tenant and wanted in (address, room_id):
            return address, room_id
    return graph_error(404, "ResourceNotFound", f"Resource '{resource}' was not found.")


def resource_json(sub: Subscription, *, with_client_state: bool) -> dict[str, Any]:
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.client_id,
        "changeType": ",".join(sub.change_types),
        "clientState": sub.client_state if with_client_state else None,
        "notificationUrl": sub.notification_url,
        "lifecycleNotificationUrl": sub.lifecycle_url,
        "expirationDateTime": graph_timestamp(sub.expiration),
        "creatorId": sub.creator_id,
        "includeResourceData": False,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationQueryOptions": None,
        "notificationContentType": "application/json",
    }


def create() -> Response:
    found = caller()
    if isinstance(found, Response):
        return found
    token, account = found
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return bad("The request body must be a JSON object.")
    changes = body.get("changeType")
    wanted = changes.split(",") if isinstance(changes, str) else []
    if not wanted or any(c.strip() not in CHANGE_TYPES for c in wanted):
        return bad("changeType must be one or more of created, updated, deleted.")
    urls: dict[str, str | None] = {}
    for name in ("notificationUrl", "lifecycleNotificationUrl"):
        value = body.get(name)
        if value is None and name == "lifecycleNotificationUrl":
            urls[name] = None
        elif not isinstance(value, str) or not deliverable(value):
            return bad(f"{name} must be an https URL.")
        else:
            urls[name] = value
    client_state = body.get("clientState")
    if client_state is not None and (
        not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
    ):
        return bad(f"clientState must be a string of at most {MAX_CLIENT_STATE} characters.")
    resource = body.get("resource")
    if not isinstance(resource, str) or not resource.strip("/"):
        return bad("resource is required.")
    target = mailbox(account, resource)
    if isinstance(target, Response):
        return target
    if target[0] != account.email:  # every token here is delegated: its own mailbox only
        return graph_error(
            403,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: Forbidden; "
            "Reason: Access is denied. Check credentials and try again.]",
        )
    expiration = expiration_of(body.get("expirationDateTime"))
    if isinstance(expiration, Response):
        return expiration
    sub = Subscription(
        id=str(uuid.uuid4()),
        resource=resource,
        change_types=tuple(c.strip() for c in wanted),
        notification_url=str(urls["notificationUrl"]),
        lifecycle_url=urls["lifecycleNotificationUrl"],
        client_state=client_state,
        expiration=expiration,
        account_key=token.account_key,
        client_id=token.client_id,
        owner=target[0],
        owner_id=target[1],
        tenant=str(account.tenant),
        creator_id=account.subject,
    )
    deliverer = current_deliverer()
    for url in filter(None, (sub.notification_url, sub.lifecycle_url)):
        if not deliverer.validate(url, sub.id):
            return bad(VALIDATION_FAILED)
    state = current_state()
    with state.lock:
        state.subscriptions[sub.id] = sub
    response = jsonify(resource_json(sub, with_client_state=True))
    response.status_code = 201
    return response


def owned(subscription_id: str) -> Subscription | Response:
    found = bearer("microsoft")
    if found is None:
        return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.")
    token = found[0]
    state = current_state()
    with state.lock:
        sub = state.subscriptions.get(subscription_id)
    if sub is None or not sub.live() or sub.client_id != token.client_id:
        return not_found()
    if sub.account_key != token.account_key:
        return not_found()
    return sub


def listing() -> Response:
    found = bearer("microsoft")
    if found is None:
        return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.")
    token = found[0]
    state = current_state()
    with state.lock:
        mine = [
            resource_json(s, with_client_state=False)
            for s in state.subscriptions.values()
            if s.live() and s.client_id == token.client_id and s.account_key == token.account_key
        ]
    return jsonify(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
            "value": mine,
        }
    )


def renew(subscription_id: str) -> Response:
    sub = owned(subscription_id)
    if isinstance(sub, Response):
        return sub
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return bad("The request body must be a JSON object.")
    expiration = expiration_of(body.get("expirationDateTime"))
    if isinstance(expiration, Response):
        return expiration
    with current_state().lock:
        sub.expiration = expiration
    return jsonify(resource_json(sub, with_client_state=False))


def delete(subscription_id: str) -> Response:
    sub = owned(subscription_id)
    if isinstance(sub, Response):
        return sub
    with current_state().lock:
        sub.removed = True
    return Response(status=204)


def create_blueprint() -> Blueprint:
    bp = Blueprint("push_graph", __name__)

    @bp.post("/v1.0/subscriptions")
    @endpoint("microsoft.subscriptions")
    def create_subscription() -> Any:
        return create()

    @bp.get("/v1.0/subscriptions")
    @endpoint("microsoft.subscriptions")
    def list_subscriptions() -> Any:
        return listing()

    @bp.get("/v1.0/subscriptions/<subscription_id>")
    @endpoint("microsoft.subscriptions")
    def get_subscription(subscription_id: str) -> Any:
        sub = owned(subscription_id)
        return (
            sub
            if isinstance(sub, Response)
            else jsonify(resource_json(sub, with_client_state=False))
        )

    @bp.patch("/v1.0/subscriptions/<subscription_id>")
    @endpoint("microsoft.subscriptions")
    def renew_subscription(subscription_id: str) -> Any:
        return renew(subscription_id)

    @bp.delete("/v1.0/subscriptions/<subscription_id>")
    @endpoint("microsoft.subscriptions")
    def delete_subscription(subscription_id: str) -> Any:
        return delete(subscription_id)

    return bp

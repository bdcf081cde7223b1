"""Graph's notifications: change notifications and lifecycle notifications, ids only.

Each is one POST of `{"value": [item]}` with the subscription's `clientState`; without
`includeResourceData` the item names the event by id and carries none of its fields
(learn.microsoft.com/graph/api/resources/changenotification,
learn.microsoft.com/graph/change-notifications-lifecycle-events).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

from emulator.deliveries import current_deliverer
from emulator.push_state import Delivery, Subscription
from emulator.state import EmulatorState

LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


def graph_timestamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def post_json(sub: Subscription, kind: str, url: str, state_name: str, item: dict) -> None:
    """Queue one `{"value": [item]}` POST; a forging fault swaps the clientState."""
    delivery = Delivery(kind=kind, target=sub.id, url=url, state=state_name)

    def build(forged: bool) -> tuple[dict[str, str], bytes | None]:
        sent = {**item, "clientState": "forged" if forged else sub.client_state}
        return {"Content-Type": "application/json"}, json.dumps({"value": [sent]}).encode()

    current_deliverer().enqueue(delivery, build)


def event_changed(state: EmulatorState, owner: str, event_id: str, change: str) -> int:
    """A change notification on every live subscription to `owner`'s events; how many."""
    with state.lock:
        watching = [
            s
            for s in state.subscriptions.values()
            if s.live() and s.owner == owner and change in s.change_types
        ]
    for sub in watching:
        path = f"Users/{sub.owner_id}/Events/{event_id}"
        etag = hashlib.sha256(f"{event_id}:{time.time_ns()}".encode()).hexdigest()[:16]
        post_json(
            sub,
            "graph",
            sub.notification_url,
            change,
            {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": graph_timestamp(sub.expiration),
                "changeType": change,
                "resource": path,
                "tenantId": sub.tenant,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": path,
                    "@odata.etag": f'W/"{etag}"',
                    "id": event_id,
                },
            },
        )
    return len(watching)


def lifecycle(state: EmulatorState, sub: Subscription, event: str) -> None:
    """Send a lifecycle notification; `subscriptionRemoved` also ends the subscription."""
    if event == "subscriptionRemoved":
        with state.lock:
            sub.removed = True
    post_json(
        sub,
        "lifecycle",
        str(sub.lifecycle_url),
        event,
        {
            "lifecycleEvent": event,
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_timestamp(sub.expiration),
            "resource": sub.resource,
            "tenantId": sub.tenant,
        },
    )

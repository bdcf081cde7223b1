"""The control API's push part, under /_emulator/ like the rest (JSON only).

Delete an event (its watchers hear of it), list Google channels and Graph subscriptions,
expire one now, fire a Graph lifecycle event, read the delivery log, and queue delivery
faults: late (`delay_ms`), missing (`drop`), sent twice (`duplicate`), with a wrong
token or clientState (`forge`), after the next one (`reorder`), for one kind or all.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator import push_graph_notices
from emulator.control_input import BadInput, bad_input, body, text, whole
from emulator.deliveries import current_deliverer
from emulator.faults import current_state
from emulator.push import announce
from emulator.push_state import DELIVERY_KINDS, DeliveryFault, now_ms

bp = Blueprint("control_push", __name__, url_prefix="/_emulator")
bp.register_error_handler(BadInput, bad_input)


@bp.delete("/events/<event_id>")
def delete_event(event_id: str) -> Any:
    state = current_state()
    with state.lock:
        gone = next((e for e in state.events if e.id == event_id), None)
        if gone is None:
            raise BadInput(f"no event {event_id!r}", "unknown_event")
        state.events.remove(gone)
    announce(state, gone, None)
    return jsonify({"deleted": event_id})


@bp.get("/channels")
def channels() -> Any:
    state = current_state()
    with state.lock:
        return jsonify([{**c.as_json(), "live": c.live()} for c in state.channels.values()])


@bp.get("/subscriptions")
def subscriptions() -> Any:
    state = current_state()
    with state.lock:
        return jsonify([{**s.as_json(), "live": s.live()} for s in state.subscriptions.values()])


@bp.post("/channels/<channel_id>/expire")
def expire_channel(channel_id: str) -> Any:
    state = current_state()
    with state.lock:
        channel = state.channels.get(channel_id)
        if channel is None:
            raise BadInput(f"no channel {channel_id!r}", "unknown_channel")
        channel.expiration_ms = min(channel.expiration_ms, now_ms())
    return jsonify({"expired": channel_id})


@bp.post("/subscriptions/<subscription_id>/expire")
def expire_subscription(subscription_id: str) -> Any:
    state = current_state()
    with state.lock:
        sub = state.subscriptions.get(subscription_id)
        if sub is None:
            raise BadInput(f"no subscription {subscription_id!r}", "unknown_subscription")
        sub.expiration = min(sub.expiration, time.time())
    return jsonify({"expired": subscription_id})


@bp.post("/subscriptions/<subscription_id>/lifecycle")
def fire_lifecycle(subscription_id: str) -> Any:
    event = text(body(), "event")
    if event not in push_graph_notices.LIFECYCLE_EVENTS:
        raise BadInput(f"'event' must be one of {', '.join(push_graph_notices.LIFECYCLE_EVENTS)}")
    state = current_state()
    with state.lock:
        sub = state.subscriptions.get(subscription_id)
    if sub is None:
        raise BadInput(f"no subscription {subscription_id!r}", "unknown_subscription")
    if sub.lifecycle_url is None:
        raise BadInput("that subscription has no lifecycleNotificationUrl", "no_lifecycle_url")
    push_graph_notices.lifecycle(state, sub, str(event))
    return jsonify({"sent": event}), 202


@bp.get("/deliveries")
def deliveries() -> Any:
    """The delivery log, oldest first, once the queued deliveries were attempted (or 10 s
    passed): a test reads what happened, not a race."""
    current_deliverer().idle(timeout=10.0)
    kind = request.args.get("kind")
    state = current_state()
    with state.lock:
        return jsonify([d.as_json() for d in state.deliveries if kind in (None, d.kind)])


@bp.post("/delivery-faults")
def add_delivery_fault() -> Any:
    data = body()
    kind = data.get("kind")
    if kind is not None and kind not in DELIVERY_KINDS:
        raise BadInput(f"'kind' must be one of {', '.join(DELIVERY_KINDS)} or null")
    flags = {}
    for name in ("drop", "duplicate", "forge", "reorder"):
        value = data.get(name, False)
        if not isinstance(value, bool):
            raise BadInput(f"{name!r} must be true or false")
        flags[name] = value
    times = whole(data, "times", 1, -1, 1_000_000)
    if times == 0:
        raise BadInput("'times' must be positive, or -1 for ever")
    fault = DeliveryFault(
        kind=kind,
        delay_ms=whole(data, "delay_ms", 0, 0, 60_000) or 0,
        times=int(times or 1),
        **flags,
    )
    if not (fault.delay_ms or fault.drop or fault.duplicate or fault.forge or fault.reorder):
        raise BadInput("a delivery fault needs delay_ms, drop, duplicate, forge or reorder")
    state = current_state()
    with state.lock:
        state.delivery_faults.append(fault)
        queued = len(state.delivery_faults)
    return jsonify({"queued": queued}), 201


@bp.delete("/delivery-faults")
def clear_delivery_faults() -> Response:
    state = current_state()
    with state.lock:
        cleared = len(state.delivery_faults)
        state.delivery_faults.clear()
    return jsonify({"cleared": cleared})

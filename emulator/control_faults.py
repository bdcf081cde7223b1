"""The control API's faults under /_emulator/: queue a failure for one endpoint (a status,
Retry-After, a delay, a malformed body or an OAuth error, for some calls or for ever), or
clear them all when the test's outage is over."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from emulator.control_input import BadInput, bad_input, body, text, whole
from emulator.faults import current_state
from emulator.records import ENDPOINTS, Fault

SCOPED_APIS = (
    "google.freebusy",
    "google.watch",
    "microsoft.getschedule",
    "microsoft.rooms",
    "microsoft.subscriptions",
)

bp = Blueprint("control_faults", __name__, url_prefix="/_emulator")
bp.register_error_handler(BadInput, bad_input)


@bp.post("/faults")
def add_fault() -> Any:
    data = body()
    name = text(data, "endpoint")
    if name not in ENDPOINTS:
        raise BadInput(f"unknown endpoint {name!r}; known: {', '.join(sorted(ENDPOINTS))}")
    retry_after = data.get("retry_after")
    if retry_after is not None:
        if isinstance(retry_after, bool) or not isinstance(retry_after, int | float | str):
            raise BadInput("'retry_after' must be a number of seconds or an HTTP date")
        retry_after = str(retry_after)
    malformed = data.get("body")
    if malformed not in (None, "malformed"):
        raise BadInput("'body' must be \"malformed\" or null")
    error = data.get("error")
    if error not in (None, "invalid_grant", "interaction_required", "insufficient_scope"):
        raise BadInput(
            "'error' must be invalid_grant, interaction_required, insufficient_scope or null"
        )
    if error == "interaction_required" and name != "microsoft.token":
        raise BadInput("'error' interaction_required applies to microsoft.token only")
    if error == "invalid_grant" and not str(name).endswith(".token"):
        raise BadInput("'error' invalid_grant applies to token endpoints only")
    if error == "insufficient_scope" and name not in SCOPED_APIS:
        raise BadInput(f"'error' insufficient_scope applies to {', '.join(SCOPED_APIS)} only")
    times = whole(data, "times", 1, -1, 1_000_000)
    if times == 0:
        raise BadInput("'times' must be positive, or -1 for ever")
    fault = Fault(
        status=whole(data, "status", None, 100, 599),
        retry_after=retry_after,
        delay_ms=whole(data, "delay_ms", 0, 0, 60_000) or 0,
        body=malformed,
        error=error,
        times=int(times or 1),
    )
    state = current_state()
    with state.lock:
        state.faults[str(name)].append(fault)
    return jsonify({"endpoint": name, "queued": len(state.faults[str(name)])}), 201


@bp.delete("/faults")
def clear_faults() -> Any:
    """Drop every queued fault (the test's outage is over); grants, events, tokens and
    counters stay, unlike /reset."""
    state = current_state()
    with state.lock:
        cleared = sum(len(queue) for queue in state.faults.values())
        state.faults.clear()
    return jsonify({"cleared": cleared})

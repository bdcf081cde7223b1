"""Tell the watchers of a calendar that one of its events changed (Google and Graph alike).

The control API calls `announce` whenever it adds, moves, replaces or deletes an event,
as the providers notify on every change to a watched calendar, whoever made it.
"""

from __future__ import annotations

from emulator import push_google, push_graph_notices
from emulator.records import Event
from emulator.state import EmulatorState


def announce(state: EmulatorState, before: Event | None, after: Event | None) -> int:
    """Queue the notifications for an event going from `before` to `after` (either may be
    None: created or deleted); how many were queued."""
    sent = 0
    moved = before is not None and (
        after is None or (before.owner, before.calendar) != (after.owner, after.calendar)
    )
    if before is not None and moved:
        sent += push_google.event_changed(state, before.owner, before.calendar)
        sent += push_graph_notices.event_changed(state, before.owner, before.id, "deleted")
    if after is not None:
        sent += push_google.event_changed(state, after.owner, after.calendar)
        change = "updated" if before is not None and before.owner == after.owner else "created"
        sent += push_graph_notices.event_changed(state, after.owner, after.id, change)
    return sent

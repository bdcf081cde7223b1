"""The parts of a data export (services/privacy.py) that are worked out rather than read:
timestamps in RFC 3339, and each hosted room's status as the API would give it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.services.grants import GrantService
from gateway.services.room_status import NEEDS_RECONNECT, OK, RESTRICTED, UNBOUND, meaning
from gateway.services.rooms import RoomService
from gateway.storage.grants import ACTIVE


def iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def hosted_rooms(
    rooms: RoomService, grants: GrantService, uid: str, restricted: bool
) -> list[dict[str, Any]]:
    """The rooms the user hosts, each with the status the API gives it as far as the
    gateway knows without asking the provider (`unknown` arises only when it is asked)."""
    found = []
    hosted = rooms.hosted_by(uid)
    calendars = rooms.pointer_sets([r.id for r in hosted]) if hosted else {}
    for room in hosted:
        pointers = calendars.get(room.id, ())
        held = [grants.get(p[0], p[1]) for p in pointers]
        if not pointers:
            status = UNBOUND
        elif pointers[0][0] == uid and restricted:
            status = RESTRICTED
        elif any(g is None or g.status != ACTIVE for g in held):  # any one calendar
            status = NEEDS_RECONNECT
        else:
            status = OK
        found.append(
            {"id": room.id, "name": room.name, "status": status, "statusMeaning": meaning(status)}
        )
    return found

"""A room's history in Redis: who bound, rebound and unbound it, and when.

A capped, expiring stream per room (keys in `room_keys`), holding opaque ids only; erasure
removes a person's entries from every room. Kept apart from `rooms` because it is an
append-only record, not the state free/busy reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import redis

from gateway.storage import keys
from gateway.storage.readable import unreadable
from gateway.storage.room_keys import room_history

HISTORY_MAX = 1000
HISTORY_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True)
class HistoryEntry:
    id: str
    actor: str
    action: str
    grant: str
    at: float


class RoomHistory:
    """The history half of `RoomStore` (a mixin over its Redis client)."""

    client: redis.Redis

    def record(self, room_id: str, *, actor: str, action: str, gid: str = "") -> None:
        key = room_history(room_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(
            key,
            {"actor": actor, "action": action, "grant": gid, "at": str(time.time())},
            maxlen=HISTORY_MAX,
            approximate=True,
        )
        pipe.expire(key, HISTORY_SECONDS)
        pipe.execute()

    def forget_in_history(self, uid: str) -> int:
        """Erasure: remove every history entry naming the user, in every room."""
        removed = 0
        for key in self.client.scan_iter(match=f"{keys.PREFIX}:room:*:history", count=500):
            entries: list[tuple[str, dict[str, str]]] = self.client.xrange(key)  # type: ignore[assignment]
            doomed = [entry_id for entry_id, fields in entries if fields.get("actor") == uid]
            if doomed:
                removed += int(self.client.xdel(key, *doomed))
        return removed

    def history(self, room_id: str) -> list[HistoryEntry]:
        try:
            entries = cast(
                list[tuple[str, dict[str, str]]], self.client.xrange(room_history(room_id))
            )
        except UnicodeDecodeError:
            unreadable("room history")
            return []
        return [
            HistoryEntry(
                id=str(entry_id),
                actor=fields.get("actor", ""),
                action=fields.get("action", ""),
                grant=fields.get("grant", ""),
                at=_number(fields.get("at", "0")),
            )
            for entry_id, fields in entries
        ]


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0

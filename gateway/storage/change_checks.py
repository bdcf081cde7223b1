"""The last version seen of each CalDAV / ICS calendar under change checks.

    gw:{u:UID}:changes:GID   hash   keyed hash of a calendar id (never the id, which may be
                                    an address) -> JSON [version, checked at]: the version
                                    the server gave (a sync-token, a CTag, an ETag with a
                                    digest of the feed: nothing of an event) and when

Under the user's hash tag (erasure takes it with the rest); deleted when its grant ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from gateway.storage import keys
from gateway.storage.readable import unreadable


def changes_key(uid: str, gid: str) -> str:
    return f"{keys.user_tag(uid)}:changes:{gid}"


@dataclass(frozen=True)
class Seen:
    """A calendar's version as last checked, and when."""

    version: str
    checked_at: float


class ChangeCheckStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def of_grant(self, uid: str, gid: str) -> dict[str, Seen]:
        """calendar mark -> what its last check saw."""
        return _seen(self.client.hgetall(changes_key(uid, gid)))

    def of_grants(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Seen]]:
        """`of_grant` of each (uid, gid), in one pipeline (a cold free/busy round)."""
        if not pairs:
            return []
        pipe = self.client.pipeline(transaction=False)
        for uid, gid in pairs:
            pipe.hgetall(changes_key(uid, gid))
        return [_seen(raw) for raw in pipe.execute()]

    def saw(self, uid: str, gid: str, mark: str, seen: Seen) -> None:
        self.client.hset(changes_key(uid, gid), mark, json.dumps([seen.version, seen.checked_at]))

    def forget(self, uid: str, gid: str, mark: str) -> None:
        self.client.hdel(changes_key(uid, gid), mark)

    def forget_grant(self, uid: str, gid: str) -> None:
        self.client.delete(changes_key(uid, gid))


def _seen(raws: Any) -> dict[str, Seen]:
    found: dict[str, Seen] = {}
    for mark, raw in raws.items():
        try:
            version, checked_at = json.loads(str(raw))
            found[str(mark)] = Seen(str(version), float(checked_at))
        except (ValueError, TypeError):
            unreadable("change-check version")
    return found

"""Who asked for the free/busy of a host's rooms: counts per room, asker and UTC day.

    gw:{u:HOST}:access   hash  "<room>|<asker>|<YYYY-MM-DD>" -> count; 90 days after the
                               last request. The asker is "client:<api client id>" or
                               "member" (another signed-in user, not named: their privacy)

It lives under the host's tag: it is data about the host's rooms, exported to them and
erased with them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import redis

from gateway.storage import keys

KEEP_SECONDS = 90 * 86400


def access_key(uid: str) -> str:
    return f"{keys.user_tag(uid)}:access"


@dataclass(frozen=True)
class AccessCount:
    room: str
    asker: str
    day: str
    count: int


class AccessLog:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def record(self, asker: str, rooms: Iterable[tuple[str, str]]) -> None:
        """Count one request by `asker` for each (room, host uid); one round trip."""
        day = time.strftime("%Y-%m-%d", time.gmtime())
        pipe = self.client.pipeline(transaction=False)
        for room_id, uid in rooms:
            pipe.hincrby(access_key(uid), f"{room_id}|{asker}|{day}", 1)
            pipe.expire(access_key(uid), KEEP_SECONDS)
        pipe.execute()

    def of(self, uid: str) -> list[AccessCount]:
        found = []
        for field, count in cast(dict[str, str], self.client.hgetall(access_key(uid))).items():
            room, asker, day = [*str(field).split("|"), "", ""][:3]
            found.append(AccessCount(room, asker, day, int(count)))
        return sorted(found, key=lambda a: (a.day, a.room, a.asker))

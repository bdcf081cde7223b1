"""Who asked for the free/busy of a host's rooms: counts per room, asker and UTC day.

    gw:{u:HOST}:access   hash  "<room>|<asker>|<YYYY-MM-DD>" -> count; 90 days after the
                               last request. The asker is "client:<api client id>" or
                               "member" (another signed-in user, not named: their privacy)

It lives under the host's tag: it is data about the host's rooms, exported to them and
erased with them. Counting is the hot path's business, so counts are gathered in memory and
written in one pipeline every FLUSH_SECONDS (and before any read here); a worker that
crashes loses at most that many seconds of counts.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import redis

from gateway.storage import keys

KEEP_SECONDS = 90 * 86400
FLUSH_SECONDS = 2.0


def access_key(uid: str) -> str:
    return f"{keys.user_tag(uid)}:access"


@dataclass(frozen=True)
class AccessCount:
    room: str
    asker: str
    day: str
    count: int


class AccessLog:
    def __init__(self, client: redis.Redis, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.client = client
        self.flush_seconds = flush_seconds
        # Requests as they came, (asker, day, ((room, host uid), ...)) -> how many: a warm
        # request adds one count here instead of one per room; flush() spreads them out.
        self._requests: Counter[tuple[str, str, tuple[tuple[str, str], ...]]] = Counter()
        self._pending: Counter[tuple[str, str]] = Counter()  # a flush that failed
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def record(self, asker: str, rooms: Iterable[tuple[str, str]]) -> None:
        """Count one request by `asker` for each (room, host uid)."""
        day = time.strftime("%Y-%m-%d", time.gmtime())
        batch = rooms if isinstance(rooms, tuple) else tuple(rooms)
        with self._lock:
            self._requests[(asker, day, batch)] += 1
            due = time.monotonic() - self._last_flush >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, Counter()
            pending, self._pending = self._pending, Counter()
            self._last_flush = time.monotonic()
        for (asker, day, batch), times in requests.items():
            for room_id, uid in batch:
                pending[(uid, f"{room_id}|{asker}|{day}")] += times
        if not pending:
            return
        pipe = self.client.pipeline(transaction=False)
        for (uid, field), count in pending.items():
            pipe.hincrby(access_key(uid), field, count)
        for uid in {uid for uid, _ in pending}:
            pipe.expire(access_key(uid), KEEP_SECONDS)
        try:
            pipe.execute()
        except redis.RedisError:  # counts are kept for the next flush rather than lost
            with self._lock:
                self._pending.update(pending)

    def forget(self, uid: str) -> None:
        """Erasure: drop counts not yet written."""
        with self._lock:
            for key in [k for k in self._pending if k[0] == uid]:
                del self._pending[key]
            for request in [r for r in self._requests if any(u == uid for _, u in r[2])]:
                times = self._requests.pop(request)
                kept = tuple(pair for pair in request[2] if pair[1] != uid)
                if kept:
                    self._requests[(request[0], request[1], kept)] += times

    def of(self, uid: str) -> list[AccessCount]:
        self.flush()
        found = []
        for field, count in cast(dict[str, str], self.client.hgetall(access_key(uid))).items():
            room, asker, day = [*str(field).split("|"), "", ""][:3]
            found.append(AccessCount(room, asker, day, int(count)))
        return sorted(found, key=lambda a: (a.day, a.room, a.asker))

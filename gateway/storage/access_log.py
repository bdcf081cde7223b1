"""Who asked for the free/busy of a host's rooms: counts per room, asker and UTC day.

    gw:{u:HOST}:access   hash  "<room>|<asker>|<YYYY-MM-DD>" -> count; 90 days after the
                               last request. The asker is "client:<api client id>" or
                               "member" (another signed-in user, not named: their privacy)

It lives under the host's tag: it is data about the host's rooms, exported to them and
erased with them. Counting is the hot path's business, so counts are gathered in memory and
written in one pipeline every FLUSH_SECONDS (and before any read here), by a thread of its
own: the request that finds a flush due does not wait for it. A worker that crashes loses
at most that many seconds of counts. Counts are written only for a host whose profile still
exists, checked in the same script: another worker's counts for a host erased meanwhile
would otherwise bring back, after the erasure, a key under the erased host's tag.
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
from gateway.storage.grant_scripts import queue_eval

KEEP_SECONDS = 90 * 86400
FLUSH_SECONDS = 2.0

# KEYS: the host's profile, their access counts; ARGV: seconds to keep, then field, count...
_ADD_IF_HOST_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


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
        self._flushing = False  # a flush thread is under way
        self._writing = threading.Lock()  # one flush at a time: a read waits for one under way

    def record(self, asker: str, rooms: Iterable[tuple[str, str]]) -> None:
        """Count one request by `asker` for each (room, host uid)."""
        day = time.strftime("%Y-%m-%d", time.gmtime())
        batch = rooms if isinstance(rooms, tuple) else tuple(rooms)
        with self._lock:
            self._requests[(asker, day, batch)] += 1
            due = time.monotonic() - self._last_flush >= self.flush_seconds
            due = due and not self._flushing
            if due:
                self._flushing = True
        if due:
            threading.Thread(target=self._flush_once, name="gateway-access-flush").start()

    def _flush_once(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._flushing = False

    def flush(self) -> None:
        with self._writing:
            self._write_counted()

    def _write_counted(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, Counter()
            pending, self._pending = self._pending, Counter()
            self._last_flush = time.monotonic()
        for (asker, day, batch), times in requests.items():
            for room_id, uid in batch:
                pending[(uid, f"{room_id}|{asker}|{day}")] += times
        if not pending:
            return
        by_host: dict[str, list[str | int]] = {}
        for (uid, field), count in pending.items():
            by_host.setdefault(uid, [KEEP_SECONDS]).extend((field, count))
        pipe = self.client.pipeline(transaction=False)
        for uid, args in by_host.items():
            names = [keys.profile(uid), access_key(uid)]
            queue_eval(pipe, _ADD_IF_HOST_EXISTS, names, *args)
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

"""The provider channels watching bound calendars, and the debounce of their re-fetches.

    gw:watch:{WID}             hash   one channel: uid, gid, provider, cal (keyed hash of the
                                      calendar id: never the id, which may be an address),
                                      resource (the provider's id of the watched resource,
                                      or the id it gave the channel where it names them),
                                      expires (UNIX time), number (the highest message number
                                      seen: older and repeated ones are duplicates); in the
                                      user's index
    gw:{u:UID}:watches         set    the user's channel ids
    gw:watches:expiry          zset   channel id -> expiry (the renewal job's list)
    gw:watch:{WID}:refresh     string "1" while a re-fetch of the channel's calendar is
                                      pending or running (one per calendar, across processes)
    gw:watch:{WID}:dirty       string "1": a notification came after that re-fetch began

No notification body and no event data is ever stored: a notification only says "this
calendar changed". The secret a channel carries is not stored either: it is an HMAC of the
channel id the gateway recomputes (services/watches.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from gateway.storage import keys

EXPIRY = f"{keys.PREFIX}:watches:expiry"

# KEYS: channel hash. ARGV: number. 1 when it is newer than every number seen before.
_NEWER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local seen = tonumber(redis.call('HGET', KEYS[1], 'number') or '-1')
if tonumber(ARGV[1]) <= seen then return 0 end
redis.call('HSET', KEYS[1], 'number', ARGV[1])
return 1
"""


def watch_key(watch_id: str) -> str:
    return f"{keys.PREFIX}:watch:{{{watch_id}}}"  # its debounce keys share its slot


def user_watches(uid: str) -> str:
    return f"{keys.user_tag(uid)}:watches"


@dataclass(frozen=True)
class WatchRecord:
    watch_id: str
    uid: str
    gid: str
    provider: str
    calendar_mark: str
    resource_id: str
    expires_at: float


class WatchStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._newer = client.register_script(_NEWER)

    def add(self, record: WatchRecord) -> None:
        key = watch_key(record.watch_id)
        self.client.hset(
            key,
            mapping={
                "uid": record.uid,
                "gid": record.gid,
                "provider": record.provider,
                "cal": record.calendar_mark,
                "resource": record.resource_id,
                "expires": f"{record.expires_at:.3f}",
            },
        )
        self.client.sadd(keys.user_index(record.uid), key)
        self.client.sadd(user_watches(record.uid), record.watch_id)
        self.client.zadd(EXPIRY, {record.watch_id: record.expires_at})

    def get(self, watch_id: str) -> WatchRecord | None:
        return _record(watch_id, self.client.hgetall(watch_key(watch_id)))

    def of_users(self, uids: Sequence[str]) -> dict[str, list[WatchRecord]]:
        """`of_user` for several users at once: one pipeline, and a second one only if
        any of them has a channel (a cold free/busy round's watched lookup)."""
        users = sorted(set(uids))
        if not users:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for uid in users:
            pipe.smembers(user_watches(uid))
        sets = pipe.execute()
        ids = {u: sorted(str(w) for w in found) for u, found in zip(users, sets, strict=True)}
        wanted = [w for uid in users for w in ids[uid]]
        raws: dict[str, Any] = {}
        if wanted:
            pipe = self.client.pipeline(transaction=False)
            for watch_id in wanted:
                pipe.hgetall(watch_key(watch_id))
            raws = dict(zip(wanted, pipe.execute(), strict=True))
        found = {uid: [_record(w, raws[w]) for w in ids[uid]] for uid in users}
        return {uid: [w for w in records if w is not None] for uid, records in found.items()}

    def of_user(self, uid: str) -> list[WatchRecord]:
        found = [self.get(str(w)) for w in sorted(self.client.smembers(user_watches(uid)))]
        return [w for w in found if w is not None]

    def remove(self, record: WatchRecord) -> None:
        key = watch_key(record.watch_id)
        self.client.delete(key, f"{key}:refresh", f"{key}:dirty")
        self.client.srem(user_watches(record.uid), record.watch_id)
        self.client.srem(keys.user_index(record.uid), key)
        self.client.zrem(EXPIRY, record.watch_id)

    def expiring_before(self, moment: float, limit: int = 500) -> list[str]:
        """Ids of the channels that expire before `moment`, soonest first."""
        found = self.client.zrangebyscore(EXPIRY, "-inf", moment, start=0, num=limit)
        return [str(w) for w in found]

    def newer(self, watch_id: str, number: int) -> bool:
        """Whether message `number` is newer than all the channel has seen (and note it)."""
        return bool(self._newer(keys=[watch_key(watch_id)], args=[number]))

    # -- debounce: one re-fetch per calendar at a time, across processes ----------------------
    def claim_refresh(self, watch_id: str, milliseconds: int) -> bool:
        """Claim the calendar's re-fetch; False when one is pending (then note it dirty)."""
        key = watch_key(watch_id)
        if self.client.set(f"{key}:refresh", "1", nx=True, px=milliseconds):
            return True
        self.client.set(f"{key}:dirty", "1", px=milliseconds * 10)
        return False

    def hold_refresh(self, watch_id: str, milliseconds: int) -> None:
        """The re-fetch is still running: keep its claim this much longer."""
        self.client.set(f"{watch_key(watch_id)}:refresh", "1", px=milliseconds)

    def take_dirty(self, watch_id: str) -> bool:
        """Whether a notification came since the last look (and forget it)."""
        return bool(self.client.delete(f"{watch_key(watch_id)}:dirty"))

    def release_refresh(self, watch_id: str) -> None:
        self.client.delete(f"{watch_key(watch_id)}:refresh")


def _record(watch_id: str, data: Any) -> WatchRecord | None:
    if not data or "uid" not in data:
        return None
    try:
        return WatchRecord(
            watch_id=watch_id,
            uid=str(data["uid"]),
            gid=str(data["gid"]),
            provider=str(data["provider"]),
            calendar_mark=str(data["cal"]),
            resource_id=str(data["resource"]),
            expires_at=float(data["expires"]),
        )
    except (KeyError, ValueError):
        return None

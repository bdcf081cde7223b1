"""How long a watched calendar's cached days stay fresh, and what a lost channel drops.

Free/busy asks `lasting` which calendars have a live channel and until when (their days
are fresh for GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS, never past the channel's end:
services/freebusy_fetch.py, Freshness); a channel lost before its end, or stopped while
its calendar is still bound, puts that calendar's cached days back on the polled TTL at
once (`back_to_polling`: expired, they are served marked stale while they are read again).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from gateway.services.freebusy_freshness import Asked
from gateway.services.rooms import RoomService
from gateway.storage.freebusy_cache import FreeBusyCache
from gateway.storage.watches import WatchRecord, WatchStore


class WatchedDays:
    def __init__(
        self,
        store: WatchStore,
        rooms: RoomService,
        mark: Callable[[str, str], str],
        cache: FreeBusyCache | None,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.calendar_mark = mark  # (gid, calendar id) -> the keyed hash channels keep
        self.cache = cache

    def lasting(self, uid: str, gid: str, calendar_ids: Sequence[str]) -> dict[str, float]:
        """calendar id -> the end of its live channel, for those of `uid`'s calendars of
        grant `gid` that have one (free/busy keeps their days fresh longer, Freshness)."""
        return self._lasting(self.store.of_user(uid), gid, calendar_ids, time.time())

    def lasting_many(self, asks: Sequence[Asked]) -> list[dict[str, float]]:
        """`lasting` of each (uid, gid, calendar ids), the channels read at once."""
        channels = self.store.of_users([uid for uid, _, _ in asks])
        now = time.time()
        return [self._lasting(channels.get(uid, []), gid, ids, now) for uid, gid, ids in asks]

    def _lasting(
        self, channels: list[WatchRecord], gid: str, calendar_ids: Sequence[str], now: float
    ) -> dict[str, float]:
        ends: dict[str, float] = {}
        for w in channels:
            if w.gid == gid and w.expires_at > now:
                ends[w.calendar_mark] = max(ends.get(w.calendar_mark, 0.0), w.expires_at)
        if not ends:
            return {}
        marks = {cid: self.calendar_mark(gid, cid) for cid in calendar_ids}
        return {cid: ends[mark] for cid, mark in marks.items() if mark in ends}

    def back_to_polling(self, record: WatchRecord) -> None:
        """The cached days of the calendar a channel watched, in every room it backs, fall
        back to the polled TTL: they may have been written under the watched one (expired
        now, they are still served, marked stale, while they are read again)."""
        if self.cache is None:
            return
        bound = self.rooms.binding_records(record.uid)
        slots = [(b.room_id, b.version) for b in bound if b.gid == record.gid]
        slots = [
            slot
            for slot, calendar in self.rooms.calendars_of(record.uid, record.gid, slots).items()
            if self.calendar_mark(record.gid, calendar) == record.calendar_mark
        ]
        if slots and self.cache.shorten(record.uid, record.gid, slots):
            self.cache.bump_answers(settled=False)

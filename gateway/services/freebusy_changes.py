"""Which days a provider's change really changed, for the change feed.

A notification (or a CalDAV/ICS change check) says only that a calendar changed: an event's
title edited, a duplicate, a change outside the cached days all come the same way. The
days cached before the re-read are compared with what the re-read wrote, per room and UTC
day; only the days whose busy intervals differ are announced, so a frontend is not sent to
ask again for nothing. A day the re-read could not write (the provider failed, the grant
ended) counts as changed: its room now reads "unknown" or stale, and the frontend should
ask. With nothing cached before there is nothing to compare: the caller tells of the whole
horizon, as a change may be anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

from gateway.storage.freebusy_cache import Entry, FreeBusyCache, entry_key

Slot = tuple[str, str]  # (room id, calendar version)
Before = Mapping[Slot, Mapping[str, Entry | None]]  # slot -> ISO day -> entry it held


def tell(
    changed: Callable[[list[str], set[date]], object],
    cache: FreeBusyCache,
    uid: str,
    gid: str,
    slots: Sequence[Slot],
    before: Before,
    days: set[date],
) -> None:
    """Tell `changed` (the change feed) what the re-read of `days` changed: each room with
    its changed days (after the read, so that clients asking get the new answer); with no
    day cached before, every room of `slots` may have changed anywhere (an empty set of
    days: the whole horizon, ChangeFeed.calendar_changed)."""
    if not days:
        changed(sorted({room for room, _ in slots}), set())
        return
    for room, found in sorted(changed_days(cache, uid, gid, before, days).items()):
        changed([room], found)


def changed_days(
    cache: FreeBusyCache, uid: str, gid: str, before: Before, days: set[date]
) -> dict[str, set[date]]:
    """room id -> the days among `days` whose busy time in grant `gid`'s cache differs
    after the re-read from `before` (rooms with none left out); one read."""
    wanted: list[tuple[Slot, date]] = []
    held: list[Entry | None] = []
    for slot, cached in before.items():
        for iso, entry in cached.items():
            day = date.fromisoformat(iso)
            if day in days:
                wanted.append((slot, day))
                held.append(entry)
    changed: dict[str, set[date]] = {}
    after = cache.read([entry_key(uid, gid, r, v, d.isoformat()) for (r, v), d in wanted])
    for (slot, day), old, new in zip(wanted, held, after, strict=True):
        if _busy(old) != _busy(new) or new is None:
            changed.setdefault(slot[0], set()).add(day)
    return changed


def _busy(entry: Entry | None) -> frozenset[tuple[int, int]] | None:
    return None if entry is None else frozenset(entry.busy)

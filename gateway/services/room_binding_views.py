"""Reading rooms' bindings back: the calendars behind a room, opened only where needed.

A room is backed by up to five calendars (storage/room_calendars.py MAX_CALENDARS), each
sealed under its own grant's data key. Free/busy's cold path opens many at once per grant
(`calendars_of`); the host's pages see each calendar as a `BindingView`, never its id when
the calendar has a name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.services.grants import GrantService
from gateway.services.room_calendars import PRIMARY
from gateway.services.room_model import Room
from gateway.storage.grants import GrantRecord
from gateway.storage.room_calendars import BindingRecord
from gateway.storage.rooms import RoomStore

log = logging.getLogger(__name__)

Slot = tuple[str, str]  # (room id, calendar version): one calendar behind one room


@dataclass(frozen=True)
class Binding:
    """What free/busy needs: whose grant, which calendar (opened), which room."""

    room_id: str
    uid: str
    gid: str
    provider: str
    calendar_id: str
    since: float
    version: str = ""


@dataclass(frozen=True)
class BindingView:
    """What the host sees of one calendar behind a room; `calendar` is "primary" or a name;
    `version` names it for removal."""

    room_id: str
    room_name: str
    provider: str
    calendar: str
    primary: bool
    since: float
    grant_id: str
    grant_status: str
    version: str = ""


class BindingReader:
    def __init__(
        self, store: RoomStore, grants: GrantService, room_of: Callable[[str], Room | None]
    ) -> None:
        self.store = store
        self.grants = grants
        self.room_of = room_of

    def binding(self, room_id: str) -> Binding | None:
        """The room's first readable calendar, or None (unbound, or no grant usable)."""
        found = self.bindings(room_id)
        return found[0] if found else None

    def bindings(self, room_id: str) -> list[Binding]:
        """Every calendar behind the room whose grant is usable, opened, oldest first."""
        pointer = self.store.pointer(room_id)
        if pointer is None:
            return []
        uid = pointer[0]
        opened = []
        for found in self.store.load_bindings(uid, room_id):
            record = self.grants.record(uid, found.gid)
            if record is None or not record.usable:
                continue
            calendar = self.open_calendar(record, found)
            if calendar is not None:
                opened.append(
                    Binding(
                        room_id,
                        uid,
                        found.gid,
                        record.provider,
                        str(calendar["id"]),
                        found.since,
                        found.version,
                    )
                )
        return opened

    def calendars_of(self, uid: str, gid: str, slots: Sequence[Slot]) -> dict[Slot, str]:
        """(room id, version) -> calendar id for those of `slots` bound to grant `gid`: one
        read of the grant, one unwrap of its key, however many rooms (the cold path)."""
        record = self.grants.record(uid, gid)
        if record is None or not record.usable:
            return {}
        room_ids = sorted({room_id for room_id, _ in slots})
        return bound_calendars(self.grants, record, self.store.bindings_of(uid, room_ids), slots)

    def bindings_of(self, uid: str) -> list[BindingView]:
        """Every calendar behind every room `uid` has bound, as the host sees it."""
        views = []
        records: dict[str, GrantRecord | None] = {}
        for found in self.store.bindings_of(uid):
            if found.gid not in records:
                records[found.gid] = self.grants.record(uid, found.gid)
            views.append(self.view(self.room_of(found.room_id), found, records[found.gid]))
        return views

    def open_calendar(self, record: GrantRecord, found: BindingRecord) -> dict[str, Any] | None:
        if record.id != found.gid:
            return None
        opened = self.grants.open_many(record, [found.sealed_calendar], "calendar")
        if opened is None:
            return None
        if opened[0] is None:
            log.error("binding does not decrypt: user=%s room=%s", record.uid, found.room_id)
            return None
        calendar = opened[0]
        return calendar if isinstance(calendar, dict) and "id" in calendar else None

    def view(
        self, room: Room | None, found: BindingRecord, record: GrantRecord | None
    ) -> BindingView:
        calendar = self.open_calendar(record, found) if record else None
        if calendar is None:
            label, primary = "unreadable: the grant has ended", False
        elif calendar.get("primary"):
            label, primary = PRIMARY, True
        else:
            label, primary = str(calendar.get("name") or calendar["id"]), False
        return BindingView(
            room_id=found.room_id,
            room_name=room.name if room else found.room_id,
            provider=found.provider,
            calendar=label,
            primary=primary,
            since=found.since,
            grant_id=found.gid,
            grant_status=record.status if record else "revoked",
            version=found.version,
        )


def bound_calendars(
    grants: GrantService,
    record: GrantRecord,
    bindings: Sequence[BindingRecord],
    slots: Sequence[Slot],
) -> dict[Slot, str]:
    """(room id, version) -> calendar id for those of `slots` that `bindings` bind to the
    grant `record`: one unwrap of its key however many rooms (`calendars_of`, and a cold
    round from the bindings it read, services/freebusy_round.py)."""
    wanted = set(slots)
    mine = [b for b in bindings if b.gid == record.id and (b.room_id, b.version) in wanted]
    calendars = grants.open_many(record, [b.sealed_calendar for b in mine], "calendar")
    if calendars is None:
        return {}
    found = {}
    for binding, opened in zip(mine, calendars, strict=True):
        if opened is None:
            log.error("binding does not decrypt: user=%s room=%s", record.uid, binding.room_id)
        elif isinstance(opened, dict) and "id" in opened:
            found[(binding.room_id, binding.version)] = str(opened["id"])
    return found

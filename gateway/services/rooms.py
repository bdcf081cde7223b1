"""Bookable rooms: the registry admins keep, and each room's binding to a host's calendar.

Admins keep the registry (name, location, time zone, weekly bookable hours, host,
visibility: the model is services/room_model.py). A host binds a room to a calendar of an
active `room-availability` grant (services/room_bindings.py; which calendars a grant
offers: services/room_calendars.py). Each change of the registry or of a binding is one
audit record (gateway/storage/audit.py) about the host. Free/busy's hot path reads stored
documents and binding pointers through here, in one round trip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.request_log import security_event
from gateway.services.grants import GrantService
from gateway.services.room_binding_views import Binding, BindingReader, BindingView, Slot
from gateway.services.room_bindings import RoomBindings
from gateway.services.room_calendars import PRIMARY, CalendarChoices, GrantChoice
from gateway.services.room_model import (
    EDITABLE,
    ROOM_ID,
    InvalidRoom,
    Room,
    RoomExists,
    RoomNotFound,
    read_room,
    validated,
)
from gateway.storage.audit import AuditTrail
from gateway.storage.room_calendars import BindingRecord, Pointer
from gateway.storage.room_history import HistoryEntry
from gateway.storage.rooms import RoomStore

log = logging.getLogger(__name__)


class RoomService:
    def __init__(
        self,
        store: RoomStore,
        grants: GrantService,
        provider_kinds: Mapping[str, str],
        audit: AuditTrail,
        account_mark: Callable[[str, str], str] | None = None,
    ) -> None:
        self.store = store
        self.grants = grants
        self.audit = audit
        self.choices = CalendarChoices(grants, provider_kinds)
        self.reader = BindingReader(store, grants, self.get)
        self.calendar_bindings = RoomBindings(
            store, grants, self.choices, audit, self.reader, account_mark
        )

    # -- the registry ----------------------------------------------------------------------
    def create(self, data: Mapping[str, Any], actor: str = "operator") -> Room:
        spec = validated(dict(data))
        self._check_host(spec.host)
        now = time.time()
        room = Room(**spec.model_dump(), created=now, updated=now)
        if not self.store.create(room.id, room.model_dump_json(), room.host):
            raise RoomExists(f"a room with id {room.id!r} exists already")
        self.audit.record(
            actor=actor, action="room.create", subject=room.host or "", detail={"room": room.id}
        )
        security_event("room.create", "success", actor=actor, subject=room.id)
        return room

    def get(self, room_id: str) -> Room | None:
        if not ROOM_ID.match(room_id):
            return None
        return read_room(self.store.load(room_id))

    def require(self, room_id: str) -> Room:
        room = self.get(room_id)
        if room is None:
            raise RoomNotFound(f"there is no room {room_id!r}")
        return room

    def all(self) -> list[Room]:
        ids = self.store.ids()
        return [r for r in map(read_room, self.store.load_many(ids)) if r]

    def update(self, room_id: str, changes: Mapping[str, Any], actor: str) -> Room:
        room = self.require(room_id)
        if "id" in changes and changes["id"] != room_id:
            raise InvalidRoom("a room's id cannot be changed: create a new room instead")
        spec = validated({**room.spec(), **changes})
        self._check_host(spec.host)
        if room.host and spec.host != room.host:
            self.calendar_bindings.drop(room.host, room_id, actor, "host-changed")
        updated = Room(**spec.model_dump(), created=room.created, updated=time.time())
        self.store.save(room_id, updated.model_dump_json(), room.host, updated.host)
        changed = sorted(k for k in EDITABLE if getattr(room, k) != getattr(updated, k))
        self.audit.record(
            actor=actor,
            action="room.update",
            subject=room.host or updated.host or "",  # whose room it was, else whose it is
            detail={"room": room_id, "fields": changed, "host_changed": "host" in changed},
        )
        security_event("room.update", "success", actor=actor, subject=room_id)
        return updated

    def delete(self, room_id: str, actor: str) -> None:
        room = self.get(room_id)
        if room is None and ROOM_ID.match(room_id) and self.store.exists(room_id):
            # stored but unreadable: its host is unknown, so the room itself goes (the host's
            # binding record, if any, goes with the host's erasure or unbinding)
            log.warning("deleting a room whose document does not read: room=%s", room_id)
            self.store.delete(room_id, None)
            self.store.record(room_id, actor=actor, action="room-deleted")
            self.audit.record(actor=actor, action="room.delete", detail={"room": room_id})
            security_event("room.delete", "success", actor=actor, subject=room_id)
            return
        room = self.require(room_id)
        if room.host:
            self.calendar_bindings.drop(room.host, room_id, actor, "room-deleted")
        self.store.delete(room_id, room.host)
        self.store.record(room_id, actor=actor, action="room-deleted")
        self.audit.record(
            actor=actor, action="room.delete", subject=room.host or "", detail={"room": room_id}
        )
        security_event("room.delete", "success", actor=actor, subject=room_id)

    def hosted_by(self, uid: str) -> list[Room]:
        ids = self.store.hosted_by(uid)
        rooms = [r for r in map(read_room, self.store.load_many(ids)) if r]
        return [r for r in rooms if r.host == uid]

    def calendars_behind(self, room_id: str) -> list[dict[str, Any]]:
        """What an admin sees of the calendars behind a room: provider, grant id, since,
        and the grant's status; nothing sealed is opened."""
        pointer = self.store.pointer(room_id)
        if pointer is None:
            return []
        uid = pointer[0]
        shown = []
        for found in self.store.load_bindings(uid, room_id):
            grant = self.grants.get(uid, found.gid)
            shown.append(
                {
                    "provider": found.provider,
                    "grant": found.gid,
                    "grantStatus": grant.status if grant else "revoked",
                    "since": datetime.fromtimestamp(found.since, UTC).isoformat(timespec="seconds"),
                }
            )
        return shown

    def is_bound(self, room_id: str) -> bool:
        return self.store.pointer(room_id) is not None

    def history(self, room_id: str) -> list[HistoryEntry]:
        return self.store.history(room_id)

    def _check_host(self, host: str | None) -> None:
        if host and not self.store.user_exists(host):
            raise InvalidRoom(f"host: no user has the id {host!r}")

    # -- bindings (services/room_bindings.py, read by services/room_binding_views.py) --------
    def bind(self, uid: str, room_id: str, gid: str, calendar: str = PRIMARY) -> BindingView:
        """Back a room `uid` hosts by this one calendar of grant `gid` (RoomBindings.bind)."""
        return self.calendar_bindings.bind(uid, room_id, gid, calendar)

    def add_calendar(
        self, uid: str, room_id: str, gid: str, calendar: str = PRIMARY
    ) -> BindingView:
        """Back the room by one more calendar, up to MAX_CALENDARS."""
        return self.calendar_bindings.add_calendar(uid, room_id, gid, calendar)

    def remove_calendar(self, uid: str, room_id: str, version: str) -> bool:
        return self.calendar_bindings.remove_calendar(uid, room_id, version)

    def unbind(self, uid: str, room_id: str, actor: str | None = None) -> bool:
        return self.calendar_bindings.unbind(uid, room_id, actor)

    def unbind_grant(self, uid: str, gid: str, actor: str) -> int:
        return self.calendar_bindings.unbind_grant(uid, gid, actor)

    def rebind_grant(self, uid: str, old_gid: str, new_gid: str, actor: str) -> int:
        return self.calendar_bindings.rebind_grant(uid, old_gid, new_gid, actor)

    def on_calendars_changed(self, observer: Callable[[str], None]) -> None:
        """Call `observer(uid)` after any calendar behind a room of host `uid` changed."""
        self.calendar_bindings.observers.append(observer)

    def on_room_calendars_changed(self, observer: Callable[[str, str, int], None]) -> None:
        """Call `observer(room id, change, calendars left)` after a room's calendars changed
        (bind, add-calendar, unbind, remove-calendar, erasure, ...)."""
        self.calendar_bindings.room_observers.append(observer)

    def binding(self, room_id: str) -> Binding | None:
        """The room's first readable calendar (see `bindings` for all of them)."""
        return self.reader.binding(room_id)

    def bindings(self, room_id: str) -> list[Binding]:
        return self.reader.bindings(room_id)

    def bindings_of(self, uid: str) -> list[BindingView]:
        return self.reader.bindings_of(uid)

    def calendars_of(self, uid: str, gid: str, slots: Sequence[Slot]) -> dict[Slot, str]:
        return self.reader.calendars_of(uid, gid, slots)

    def grant_choices(self, uid: str) -> list[GrantChoice]:
        return self.choices.grant_choices(uid)

    def forget_user(self, uid: str, actor: str) -> int:
        """Erasure: drop every binding of `uid` and make them host of nothing."""
        touched = 0
        for found in self.store.bindings_of(uid):
            touched += self.calendar_bindings.drop(uid, found.room_id, actor, "erasure")
        for room in self.hosted_by(uid):
            self.update(room.id, {"host": None}, actor)
            touched += 1
        self.store.forget(uid)
        return touched

    # -- for free/busy's hot path: stored documents, which it parses once per version -------
    def documents(self, room_ids: list[str]) -> list[str | None]:
        """The rooms' stored documents, in order (None: no such room), in one read."""
        return self.store.load_many(room_ids)

    def documents_and_pointers(
        self, room_ids: list[str]
    ) -> tuple[list[str | None], dict[str, tuple[Pointer, ...]]]:
        """The documents, and (uid, gid, version) of every calendar of the bound ones, in
        one read."""
        return self.store.load_with_pointer_sets(room_ids)

    def binding_records(self, uid: str) -> list[BindingRecord]:
        """The user's bindings as stored (calendars still sealed)."""
        return self.store.bindings_of(uid)

    def pointer(self, room_id: str) -> tuple[str, str] | None:
        """(uid, gid) of the grant the room is bound to, if any."""
        return self.store.pointer(room_id)

    def pointers(self, room_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """(uid, gid, binding version) of every bound room among `room_ids`."""
        return self.store.pointers(room_ids)

    def pointer_sets(self, room_ids: list[str]) -> dict[str, tuple[Pointer, ...]]:
        """(uid, gid, version) of every calendar of every bound room among `room_ids`."""
        return self.store.pointer_sets(room_ids)

    def forget_in_history(self, uid: str) -> int:
        """Erasure: every room history entry naming `uid` goes."""
        return self.store.forget_in_history(uid)

"""Binding a room to calendars of its host's grants, and ending those bindings.

A host binds a room to up to five calendars (storage/room_calendars.py MAX_CALENDARS) of active
`room-availability` grants, of one provider account or several (the room's own mailbox and
the host's calendar, say); which calendar a grant offers is services/room_calendars.py's.
Calendar ids and names can be e-mail addresses, so each is sealed under its grant's own
data key: revoking a grant (which shreds that key) makes its calendars unreadable at once,
and `unbind_grant` removes them, and only them. Every change is appended to the room's
history with opaque ids only, and is one audit record about the host.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any

from gateway.request_log import security_event
from gateway.services.grants import GrantService
from gateway.services.room_binding_views import BindingReader, BindingView
from gateway.services.room_calendars import PRIMARY, ROOM_AVAILABILITY, CalendarChoices
from gateway.services.room_model import (
    USER_ID,
    BindingRefused,
    Room,
    RoomNotFound,
    TooManyCalendars,
)
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import GrantRecord
from gateway.storage.room_calendars import MAX_CALENDARS, BindingRecord
from gateway.storage.rooms import RoomStore

log = logging.getLogger(__name__)


class RoomBindings:
    def __init__(
        self,
        store: RoomStore,
        grants: GrantService,
        choices: CalendarChoices,
        audit: AuditTrail,
        reader: BindingReader,
        account_mark: Callable[[str, str], str] | None = None,
    ) -> None:
        self.store = store
        self.grants = grants
        self.choices = choices
        self.audit = audit
        self.reader = reader
        # (provider, subject) -> a keyed hash: what a primary-calendar binding keeps of its
        # account, so that reconnecting it after the provider ended the grant restores it
        self.account_mark = account_mark
        # told the host's uid after any of their rooms' calendars changed (services/watches.py)
        self.observers: list[Callable[[str], None]] = []
        # (room id, what changed, how many calendars back it now): the change feed's
        self.room_observers: list[Callable[[str, str, int], None]] = []

    def bind(self, uid: str, room_id: str, gid: str, calendar: str = PRIMARY) -> BindingView:
        """Back a room `uid` hosts by `calendar` ("primary", a listed calendar id, or a
        mailbox address where the provider names calendars so) of grant `gid` alone,
        replacing whatever backed it."""
        room = self._hosted(uid, room_id)
        record = self._room_grant(uid, gid)
        chosen = self.choices.chosen(record, (calendar or PRIMARY).strip())
        previous = self.store.load_binding(uid, room_id)
        version = self.store.bind(uid, room_id, **self._sealed(record, chosen))
        self._changed(uid, room_id, uid, "rebind" if previous else "bind", gid)
        return self._written(room, uid, room_id, version, record)

    def add_calendar(
        self, uid: str, room_id: str, gid: str, calendar: str = PRIMARY
    ) -> BindingView:
        """Back the room by one more calendar (the first one binds it); a sixth is refused,
        and so is a calendar that backs the room already."""
        room = self._hosted(uid, room_id)
        record = self._room_grant(uid, gid)
        chosen = self.choices.chosen(record, (calendar or PRIMARY).strip())
        present = self.store.load_bindings(uid, room_id)
        for found in present:
            if found.gid == gid:
                opened = self.reader.open_calendar(record, found)
                if opened is not None and opened.get("id") == chosen["id"]:
                    raise BindingRefused("that calendar already backs this room")
        version = self.store.add_calendar(
            uid, room_id, **self._sealed(record, chosen), limit=MAX_CALENDARS
        )
        if version is None:
            raise TooManyCalendars(
                f"a room can be backed by at most {MAX_CALENDARS} calendars: "
                "remove one before adding another"
            )
        self._changed(uid, room_id, uid, "add-calendar" if present else "bind", gid)
        return self._written(room, uid, room_id, version, record)

    def remove_calendar(self, uid: str, room_id: str, version: str, actor: str = "") -> bool:
        """Remove one calendar behind the room (the last one unbinds it); False when the
        room has no such calendar."""
        self._hosted(uid, room_id)
        if not any(b.version == version for b in self.store.load_bindings(uid, room_id)):
            return False
        return self._remove(uid, room_id, [version], actor or uid, "remove-calendar")

    def unbind(self, uid: str, room_id: str, actor: str | None = None) -> bool:
        """Remove every calendar behind `uid`'s room; False when there was none."""
        if self.store.load_binding(uid, room_id) is None:
            self._hosted(uid, room_id)
            return False
        return self.drop(uid, room_id, actor or uid, "unbind")

    def unbind_grant(self, uid: str, gid: str, actor: str) -> int:
        """Remove the calendars of grant `gid` (withdrawal, revocation) and nothing else:
        a room keeps its other calendars. How many rooms lost one."""
        doomed: dict[str, list[str]] = {}
        for found in self.store.bindings_of(uid):
            if found.gid == gid:
                doomed.setdefault(found.room_id, []).append(found.version)
        return sum(
            self._remove(uid, room_id, versions, actor, "grant-ended")
            for room_id, versions in doomed.items()
        )

    def rebind_grant(self, uid: str, old_gid: str, new_gid: str, actor: str) -> int:
        """Move the calendars of `old_gid` to `new_gid` (a re-consent of the same account
        replaced the grant).

        Call it before the old grant is purged: its key opens the calendar to carry over.
        A calendar that cannot be carried over (old key gone, another provider account) is
        removed instead. Returns how many calendars moved.
        """
        using = [b for b in self.store.bindings_of(uid) if b.gid == old_gid]
        if not using:
            return 0  # e.g. a calendar-choice grant: nothing is bound with it
        new = self._room_grant(uid, new_gid)
        old = self.grants.record(uid, old_gid)
        new_subject = self.grants.subject(new)
        moved = 0
        new_mark = self._account_mark(new)
        for found in using:
            calendar = self.reader.open_calendar(old, found) if old else None
            same_account = (
                old is not None
                and old.provider == new.provider
                and self.grants.subject(old) == new_subject
            )
            if calendar is None and self._reconnects(old, found, new, new_mark):
                # the provider ended the old grant (its key is gone): the same account's
                # primary calendar comes back, nothing else can be known
                calendar, same_account = {"id": PRIMARY, "name": None, "primary": True}, True
            if calendar is None or not same_account or new_subject is None:
                self._remove(uid, found.room_id, [found.version], actor, "grant-ended")
                continue
            sealed = self._sealed(new, calendar, new_mark)
            if self.store.replace_calendar(uid, found.room_id, found.version, **sealed):
                self._changed(uid, found.room_id, actor, "replace-grant", new_gid)
                moved += 1
        return moved

    def drop(self, uid: str, room_id: str, actor: str, action: str) -> bool:
        """Remove every calendar behind the room (host changed, room deleted, erasure)."""
        versions = [b.version for b in self.store.load_bindings(uid, room_id)]
        if not versions:
            return False
        return self._remove(uid, room_id, versions, actor, action)

    # -- inside ------------------------------------------------------------------------------
    def _remove(self, uid: str, room_id: str, versions: list[str], actor: str, action: str) -> bool:
        removed = self.store.remove_calendars(uid, room_id, versions)
        if not removed:
            return False
        left = len(self.store.load_bindings(uid, room_id))
        for gid in dict.fromkeys(b.gid for b in removed):
            self.store.record(room_id, actor=actor, action=action, gid=gid)
        detail: dict[str, Any] = {"room": room_id, "reason": action}
        if left:  # the room is still bound, by its other calendars
            detail["calendars_left"] = left
        self.audit.record(actor=actor, action="room.unbind", subject=uid, detail=detail)
        security_event("room.unbind", "success", actor=actor, subject=room_id, reason=action)
        self._tell(uid, room_id, action, left)
        return True

    def _changed(self, uid: str, room_id: str, actor: str, change: str, gid: str) -> None:
        self.store.record(room_id, actor=actor, action=change, gid=gid)
        self.audit.record(
            actor=actor, action="room.bind", subject=uid, detail={"room": room_id, "change": change}
        )
        if change != "replace-grant":
            security_event("room.bind", "success", actor=actor, subject=room_id, grant=gid)
        self._tell(uid, room_id, change, self._left(uid, room_id))

    def _left(self, uid: str, room_id: str) -> int:
        """How many calendars back the room now, for the room observers (-1: unknown, the
        change itself is done and stays done)."""
        if not self.room_observers:
            return -1
        try:
            return len(self.store.load_bindings(uid, room_id))
        except Exception as error:  # an announcement never fails the change it tells of
            log.warning("calendars behind a room not counted (%s)", type(error).__name__)
            return -1

    def _tell(self, uid: str, room_id: str, change: str, left: int) -> None:
        for observer in self.observers:
            observer(uid)
        for room_observer in self.room_observers:
            room_observer(room_id, change, left)

    def _written(
        self, room: Room, uid: str, room_id: str, version: str, record: GrantRecord
    ) -> BindingView:
        written = [b for b in self.store.load_bindings(uid, room_id) if b.version == version]
        assert written, "a calendar just written reads back"
        return self.reader.view(room, written[0], record)

    def _hosted(self, uid: str, room_id: str) -> Room:
        """The room, when `uid` hosts it. Another host's room is refused exactly as a room
        that does not exist (404, one message), so a member cannot learn which ids exist."""
        room = self.reader.room_of(room_id)
        if room is None or room.host != uid:
            raise RoomNotFound("you host no room with this id")
        return room

    def _room_grant(self, uid: str, gid: str) -> GrantRecord:
        record = self.grants.record(uid, gid) if USER_ID.match(gid or "") else None
        if record is None:
            raise BindingRefused("that grant is not one of yours")
        if record.purpose != ROOM_AVAILABILITY:
            raise BindingRefused("that grant is not for room availability")
        if not record.usable:
            raise BindingRefused("that grant is not active: give consent again first")
        return record

    def _sealed(
        self, record: GrantRecord, calendar: Mapping[str, Any], mark: str | None = None
    ) -> dict[str, str]:
        """What the store keeps of a calendar: sealed under the grant's key, and for a
        primary calendar the keyed mark of its account."""
        sealed = self.grants.seal(record, dict(calendar), "calendar")
        if sealed is None:
            raise BindingRefused("that grant is not active: give consent again first")
        if not calendar.get("primary"):
            mark = ""
        elif mark is None:
            mark = self._account_mark(record)
        return {
            "gid": record.id,
            "provider": record.provider,
            "sealed_calendar": sealed,
            "account_mark": mark,
        }

    def _account_mark(self, record: GrantRecord) -> str:
        subject = self.grants.subject(record)
        if self.account_mark is None or subject is None:
            return ""
        return self.account_mark(record.provider, subject)

    @staticmethod
    def _reconnects(
        old: GrantRecord | None, found: BindingRecord, new: GrantRecord, new_mark: str
    ) -> bool:
        """A binding of an ended grant to its account's primary calendar, reconnected with
        the same provider account."""
        return (
            old is not None
            and not old.usable
            and old.provider == new.provider
            and bool(found.account_mark and new_mark)
            and hmac.compare_digest(found.account_mark, new_mark)
        )

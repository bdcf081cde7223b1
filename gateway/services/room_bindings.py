"""The binding of a room to one calendar of its host's grant, and reading it back.

A host binds a room to a calendar of an active `room-availability` grant (which calendar:
services/room_calendars.py). The calendar id and name can be an e-mail address, so they
are sealed under the grant's own data key: revoking the grant (which shreds that key) makes
the binding unreadable at once, and `unbind_grant` removes it. Every bind, rebind and unbind
is appended to the room's history with opaque ids only, and is one audit record about the
host.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.request_log import security_event
from gateway.services.grants import GrantService
from gateway.services.room_calendars import PRIMARY, ROOM_AVAILABILITY, CalendarChoices
from gateway.services.room_model import USER_ID, BindingRefused, Room, RoomNotFound
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import GrantRecord
from gateway.storage.rooms import BindingRecord, RoomStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Binding:
    """What free/busy needs: whose grant, which calendar (opened), which room."""

    room_id: str
    uid: str
    gid: str
    provider: str
    calendar_id: str
    since: float


@dataclass(frozen=True)
class BindingView:
    """What the host sees of one of their bindings; `calendar` is "primary" or a name."""

    room_id: str
    room_name: str
    provider: str
    calendar: str
    primary: bool
    since: float
    grant_id: str
    grant_status: str


class RoomBindings:
    def __init__(
        self,
        store: RoomStore,
        grants: GrantService,
        choices: CalendarChoices,
        audit: AuditTrail,
        room_of: Callable[[str], Room | None],
        account_mark: Callable[[str, str], str] | None = None,
    ) -> None:
        self.store = store
        self.grants = grants
        self.choices = choices
        self.audit = audit
        self.room_of = room_of  # room id -> the room, or None
        # (provider, subject) -> a keyed hash: what a primary-calendar binding keeps of its
        # account, so that reconnecting it after the provider ended the grant restores it
        self.account_mark = account_mark

    def bind(self, uid: str, room_id: str, gid: str, calendar: str = PRIMARY) -> BindingView:
        """Bind a room `uid` hosts to `calendar` ("primary", a listed calendar id, or a
        mailbox address where the provider names calendars so) of grant `gid`."""
        room = self._hosted(uid, room_id)
        record = self._room_grant(uid, gid)
        chosen = self.choices.chosen(record, (calendar or PRIMARY).strip())
        previous = self.store.load_binding(uid, room_id)
        self.store.bind(
            uid,
            room_id,
            gid=gid,
            provider=record.provider,
            sealed_calendar=self._seal(record, chosen),
            account_mark=self._account_mark(record) if chosen.get("primary") else "",
        )
        self.store.record(room_id, actor=uid, action="rebind" if previous else "bind", gid=gid)
        self.audit.record(
            actor=uid,
            action="room.bind",
            subject=uid,
            detail={"room": room_id, "change": "rebind" if previous else "bind"},
        )
        security_event("room.bind", "success", actor=uid, subject=room_id, grant=gid)
        written = self.store.load_binding(uid, room_id)
        assert written is not None
        return self._view(room, written, record)

    def unbind(self, uid: str, room_id: str, actor: str | None = None) -> bool:
        """Remove `uid`'s binding of the room; False when there was none."""
        if self.store.load_binding(uid, room_id) is None:
            self._hosted(uid, room_id)
            return False
        return self.drop(uid, room_id, actor or uid, "unbind")

    def _hosted(self, uid: str, room_id: str) -> Room:
        """The room, when `uid` hosts it. Another host's room is refused exactly as a room
        that does not exist (404, one message), so a member cannot learn which ids exist."""
        room = self.room_of(room_id)
        if room is None or room.host != uid:
            raise RoomNotFound("you host no room with this id")
        return room

    def unbind_grant(self, uid: str, gid: str, actor: str) -> int:
        """Remove every binding that uses grant `gid` (withdrawal, revocation); how many."""
        removed = 0
        for found in self.store.bindings_of(uid):
            if found.gid == gid and self.drop(uid, found.room_id, actor, "grant-ended"):
                removed += 1
        return removed

    def rebind_grant(self, uid: str, old_gid: str, new_gid: str, actor: str) -> int:
        """Move the bindings of `old_gid` to `new_gid` (a re-consent replaced the grant).

        Call it before the old grant is purged: its key opens the calendar to carry over.
        A binding whose calendar cannot be carried over (old key gone, another provider
        account) is removed instead. Returns how many bindings moved.
        """
        using = [b for b in self.store.bindings_of(uid) if b.gid == old_gid]
        if not using:
            return 0  # e.g. a calendar-choice grant: nothing is bound with it
        new = self._room_grant(uid, new_gid)
        old = self.grants.record(uid, old_gid)
        new_subject = self._subject(new)
        moved = 0
        new_mark = self._account_mark(new)
        for found in using:
            calendar = self._open_calendar(old, found) if old else None
            same_account = (
                old is not None
                and old.provider == new.provider
                and self._subject(old) == new_subject
            )
            if calendar is None and self._reconnects(old, found, new, new_mark):
                # the provider ended the old grant (its key is gone): the same account's
                # primary calendar comes back, nothing else can be known
                calendar, same_account = {"id": PRIMARY, "name": None, "primary": True}, True
            if calendar is None or not same_account or new_subject is None:
                self.drop(uid, found.room_id, actor, "grant-ended")
                continue
            self.store.bind(
                uid,
                found.room_id,
                gid=new_gid,
                provider=new.provider,
                sealed_calendar=self._seal(new, calendar),
                account_mark=new_mark if calendar.get("primary") else "",
            )
            self.store.record(found.room_id, actor=actor, action="replace-grant", gid=new_gid)
            self.audit.record(
                actor=actor,
                action="room.bind",
                subject=uid,
                detail={"room": found.room_id, "change": "replace-grant"},
            )
            moved += 1
        return moved

    def _account_mark(self, record: GrantRecord) -> str:
        subject = self._subject(record)
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

    def binding(self, room_id: str) -> Binding | None:
        """The room's binding with its calendar id opened, or None (unbound, or its grant
        is no longer usable)."""
        pointer = self.store.pointer(room_id)
        if pointer is None:
            return None
        uid, gid = pointer
        found = self.store.load_binding(uid, room_id)
        record = self.grants.record(uid, gid)
        if found is None or found.gid != gid or record is None or not record.usable:
            return None
        calendar = self._open_calendar(record, found)
        if calendar is None:
            return None
        return Binding(room_id, uid, gid, record.provider, str(calendar["id"]), found.since)

    def calendars_of(self, uid: str, gid: str, room_ids: list[str]) -> dict[str, str]:
        """room id -> calendar id for the rooms bound to grant `gid`: one read of the grant,
        one unwrap of its key, however many rooms (the cold free/busy path)."""
        record = self.grants.record(uid, gid)
        if record is None or not record.usable:
            return {}
        bindings = [b for b in self.store.bindings_of(uid, room_ids) if b.gid == gid]
        calendars = self.grants.open_many(record, [b.sealed_calendar for b in bindings], "calendar")
        if calendars is None:
            return {}
        found = {}
        for binding, opened in zip(bindings, calendars, strict=True):
            if opened is None:
                log.error("binding does not decrypt: user=%s room=%s", uid, binding.room_id)
            elif isinstance(opened, dict) and "id" in opened:
                found[binding.room_id] = str(opened["id"])
        return found

    def bindings_of(self, uid: str) -> list[BindingView]:
        views = []
        for found in self.store.bindings_of(uid):
            room = self.room_of(found.room_id)
            record = self.grants.record(uid, found.gid)
            views.append(self._view(room, found, record))
        return views

    def _room_grant(self, uid: str, gid: str) -> GrantRecord:
        record = self.grants.record(uid, gid) if USER_ID.match(gid or "") else None
        if record is None:
            raise BindingRefused("that grant is not one of yours")
        if record.purpose != ROOM_AVAILABILITY:
            raise BindingRefused("that grant is not for room availability")
        if not record.usable:
            raise BindingRefused("that grant is not active: give consent again first")
        return record

    def _subject(self, record: GrantRecord) -> str | None:
        return self.grants.subject(record)

    def _seal(self, record: GrantRecord, calendar: Mapping[str, Any]) -> str:
        sealed = self.grants.seal(record, dict(calendar), "calendar")
        if sealed is None:
            raise BindingRefused("that grant is not active: give consent again first")
        return sealed

    def _open_calendar(self, record: GrantRecord, found: BindingRecord) -> dict[str, Any] | None:
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

    def drop(self, uid: str, room_id: str, actor: str, action: str) -> bool:
        gid = self.store.unbind(uid, room_id)
        if gid is None:
            return False
        self.store.record(room_id, actor=actor, action=action, gid=gid)
        self.audit.record(
            actor=actor,
            action="room.unbind",
            subject=uid,
            detail={"room": room_id, "reason": action},
        )
        security_event("room.unbind", "success", actor=actor, subject=room_id, reason=action)
        return True

    def _view(
        self, room: Room | None, found: BindingRecord, record: GrantRecord | None
    ) -> BindingView:
        calendar = self._open_calendar(record, found) if record else None
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
        )

"""Bookable rooms, and the binding of each to one calendar of its host's grant.

Admins keep the registry (name, location, time zone, weekly bookable hours, host,
visibility). A host binds a room to a calendar of an active `room-availability` grant: the
primary calendar by default, another one only with an active `calendar-choice` grant of the
same provider account. The calendar id and name can be an e-mail address, so they are
sealed under the grant's own data key: revoking the grant (which shreds that key) makes the
binding unreadable at once, and `unbind_grant` removes it. Every bind, rebind and unbind is
appended to the room's history with opaque ids only, and each change of the registry or of
a binding is one audit record (gateway/storage/audit.py) about the host.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors import registry
from connectors.base import CalendarInfo
from connectors.errors import ConnectorError
from gateway.request_log import security_event
from gateway.services.callers import MEMBERS
from gateway.services.grants import GrantService, GrantUnavailable
from gateway.services.room_hours import (
    MAX_EXCEPTIONS,
    Capacity,
    DateException,
    Equipment,
    check_equipment,
    check_exceptions,
    check_ranges,
)
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import GrantRecord
from gateway.storage.rooms import BindingRecord, HistoryEntry, RoomStore

log = logging.getLogger(__name__)

ROOM_AVAILABILITY = "room-availability"
CALENDAR_CHOICE = "calendar-choice"
PRIMARY = "primary"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ROOM_ID = re.compile(r"^[a-z0-9-]{1,64}$")
USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
AUDIENCE = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
MAILBOX = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
EDITABLE = (
    "name",
    "location",
    "time_zone",
    "hours",
    "exceptions",
    "capacity",
    "equipment",
    "host",
    "visibility",
)


# -- errors -------------------------------------------------------------------------------------
class RoomError(Exception):
    """A refusal with an HTTP status, a machine code and a message safe to show."""

    status = 400
    code = "invalid_room"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRoom(RoomError):
    status, code = 400, "invalid_room"


class RoomNotFound(RoomError):
    status, code = 404, "room_not_found"


class RoomExists(RoomError):
    status, code = 409, "room_exists"


class BindingRefused(RoomError):
    status, code = 403, "binding_refused"


class InvalidCalendar(RoomError):
    status, code = 400, "invalid_calendar"


class CalendarListUnavailable(RoomError):
    status, code = 502, "calendar_list_unavailable"


# -- the registry's models --------------------------------------------------------------------
@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class RoomSpec(BaseModel):
    """What an admin says about a room; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    name: str = Field(min_length=1, max_length=200)
    location: str = Field(default="", max_length=200)
    time_zone: str
    hours: dict[Weekday, list[list[str]]] = Field(default_factory=dict)
    exceptions: list[DateException] = Field(
        default_factory=list,
        max_length=MAX_EXCEPTIONS,
        description="Local dates whose hours replace the weekly ones ([] closes the room).",
    )
    capacity: Capacity | None = Field(default=None, description="How many people it seats.")
    equipment: Equipment = Field(
        default_factory=list, description='What it has, e.g. ["projector", "whiteboard"].'
    )
    host: str | None = None
    # Unless its admin says otherwise, a room is visible to every signed-in member (the one
    # place this default is written); `[]` makes it visible to nobody but its host.
    visibility: list[str] = Field(default_factory=lambda: [MEMBERS], max_length=100)

    @field_validator("exceptions")
    @classmethod
    def _exceptions(cls, value: list[DateException]) -> list[DateException]:
        return check_exceptions(value)

    @field_validator("equipment")
    @classmethod
    def _equipment(cls, value: list[str]) -> list[str]:
        return check_equipment(value)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not ROOM_ID.match(value):
            raise ValueError("must be 1 to 64 lower-case letters, digits or hyphens")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in _zones():
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Brussels")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not USER_ID.match(value):
            raise ValueError("must be a user id (letters, digits, '-' and '_')")
        return value or None

    @field_validator("visibility")
    @classmethod
    def _audience(cls, value: list[str]) -> list[str]:
        for name in value:
            if not AUDIENCE.match(name):
                raise ValueError(f"{name!r} is not a group or client name")
        return sorted(set(value))

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
        cleaned: dict[str, list[list[str]]] = {}
        for day in WEEKDAYS:
            ranges = value.get(day)
            if ranges:
                cleaned[day] = check_ranges(day, ranges)
        return cleaned


class Room(RoomSpec):
    created: float
    updated: float

    def spec(self) -> dict[str, Any]:
        return self.model_dump(exclude={"created", "updated"})


def describe(error: ValidationError) -> str:
    """A pydantic error as one short sentence per field, without echoing input values."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "body"
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown field {where!r}")
        elif item["type"] == "missing":
            parts.append(f"{where!r} is required")
        else:
            parts.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


# -- bindings as callers see them ------------------------------------------------------------
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


@dataclass(frozen=True)
class GrantChoice:
    """One grant a host may bind with, and what it lets them pick."""

    grant_id: str
    provider: str
    created: float
    calendars: tuple[CalendarInfo, ...]  # besides the primary one; empty without choice
    by_address: bool  # a mailbox address may be typed in
    problem: str | None = None  # why the list could not be shown


def read_room(document: str | None) -> Room | None:
    """A stored room, or None when its document no longer validates (planted, or written by
    an older schema): such a room reads as missing everywhere, never as a 500."""
    if not document:
        return None
    try:
        return Room.model_validate_json(document)
    except ValidationError:
        log.warning("a room document does not validate; it reads as missing")
        return None


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
        self.provider_kinds = dict(provider_kinds)
        self.audit = audit
        # (provider, subject) -> a keyed hash: what a primary-calendar binding keeps of its
        # account, so that reconnecting it after the provider ended the grant restores it
        self.account_mark = account_mark

    # -- the registry ----------------------------------------------------------------------
    def create(self, data: Mapping[str, Any], actor: str = "operator") -> Room:
        spec = _validated(dict(data))
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
        spec = _validated({**room.spec(), **changes})
        self._check_host(spec.host)
        if room.host and spec.host != room.host:
            self._drop_binding(room.host, room_id, actor, "host-changed")
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
            self._drop_binding(room.host, room_id, actor, "room-deleted")
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

    def is_bound(self, room_id: str) -> bool:
        return self.store.pointer(room_id) is not None

    def history(self, room_id: str) -> list[HistoryEntry]:
        return self.store.history(room_id)

    def _check_host(self, host: str | None) -> None:
        if host and not self.store.user_exists(host):
            raise InvalidRoom(f"host: no user has the id {host!r}")

    # -- binding -------------------------------------------------------------------------------
    def bind(self, uid: str, room_id: str, gid: str, calendar: str = PRIMARY) -> BindingView:
        """Bind a room `uid` hosts to `calendar` ("primary", a listed calendar id, or a
        mailbox address where the provider names calendars so) of grant `gid`."""
        room = self._hosted(uid, room_id)
        record = self._room_grant(uid, gid)
        chosen = self._chosen_calendar(record, (calendar or PRIMARY).strip())
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
        return self._drop_binding(uid, room_id, actor or uid, "unbind")

    def _hosted(self, uid: str, room_id: str) -> Room:
        """The room, when `uid` hosts it. Another host's room is refused exactly as a room
        that does not exist (404, one message), so a member cannot learn which ids exist."""
        room = self.get(room_id)
        if room is None or room.host != uid:
            raise RoomNotFound("you host no room with this id")
        return room

    def unbind_grant(self, uid: str, gid: str, actor: str) -> int:
        """Remove every binding that uses grant `gid` (withdrawal, revocation); how many."""
        removed = 0
        for found in self.store.bindings_of(uid):
            if found.gid == gid and self._drop_binding(uid, found.room_id, actor, "grant-ended"):
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
                self._drop_binding(uid, found.room_id, actor, "grant-ended")
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

    def forget_user(self, uid: str, actor: str) -> int:
        """Erasure: drop every binding of `uid` and make them host of nothing."""
        touched = 0
        for found in self.store.bindings_of(uid):
            touched += self._drop_binding(uid, found.room_id, actor, "erasure")
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
    ) -> tuple[list[str | None], dict[str, tuple[str, str, str]]]:
        """The documents, and (uid, gid, binding version) of the bound ones, in one read."""
        return self.store.load_with_pointers(room_ids)

    def binding_records(self, uid: str) -> list[BindingRecord]:
        """The user's bindings as stored (calendars still sealed)."""
        return self.store.bindings_of(uid)

    def pointer(self, room_id: str) -> tuple[str, str] | None:
        """(uid, gid) of the grant the room is bound to, if any."""
        return self.store.pointer(room_id)

    def pointers(self, room_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """(uid, gid, binding version) of every bound room among `room_ids`."""
        return self.store.pointers(room_ids)

    def forget_in_history(self, uid: str) -> int:
        """Erasure: every room history entry naming `uid` goes."""
        return self.store.forget_in_history(uid)

    # -- reading bindings ------------------------------------------------------------------
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
            room = self.get(found.room_id)
            record = self.grants.record(uid, found.gid)
            views.append(self._view(room, found, record))
        return views

    # -- what the connect page offers ------------------------------------------------------
    def grant_choices(self, uid: str) -> list[GrantChoice]:
        """The active room-availability grants of `uid`, each with the calendars it may use."""
        records = self.grants.records(uid)
        choices = []
        for record in records:
            if record.purpose != ROOM_AVAILABILITY or not record.usable:
                continue
            chooser = self._choice_grant(record, records)
            calendars: tuple[CalendarInfo, ...] = ()
            problem = None
            by_address = False
            if chooser is not None:
                by_address = self._addressed(record.provider)
                if not by_address:
                    try:
                        listed = self._calendars(chooser)
                        calendars = tuple(c for c in listed if not c.primary)
                    except CalendarListUnavailable as error:
                        problem = error.message
            choices.append(
                GrantChoice(
                    record.id, record.provider, record.created, calendars, by_address, problem
                )
            )
        return choices

    # -- inside ------------------------------------------------------------------------------
    def _room_grant(self, uid: str, gid: str) -> GrantRecord:
        record = self.grants.record(uid, gid) if USER_ID.match(gid or "") else None
        if record is None:
            raise BindingRefused("that grant is not one of yours")
        if record.purpose != ROOM_AVAILABILITY:
            raise BindingRefused("that grant is not for room availability")
        if not record.usable:
            raise BindingRefused("that grant is not active: give consent again first")
        return record

    def _addressed(self, provider: str) -> bool:
        """A provider whose free/busy call names calendars by mailbox address: its host
        types the room mailbox's address instead of picking from a list."""
        found = registry.capabilities(self.provider_kinds.get(provider))
        return found is not None and found.addressing == "mailbox"

    def _choice_grant(
        self, record: GrantRecord, records: list[GrantRecord] | None = None
    ) -> GrantRecord | None:
        """An active calendar-choice grant of the same provider account as `record`."""
        candidates = records if records is not None else self.grants.records(record.uid)
        subject = None
        for other in reversed(candidates):  # newest first
            if other.purpose != CALENDAR_CHOICE or not other.usable:
                continue
            if other.provider != record.provider:
                continue
            subject = subject or self._subject(record)
            if subject is not None and self._subject(other) == subject:
                return other
        return None

    def _chosen_calendar(self, record: GrantRecord, calendar: str) -> dict[str, Any]:
        if calendar == PRIMARY:
            return {"id": PRIMARY, "name": None, "primary": True}
        chooser = self._choice_grant(record)
        if chooser is None:
            raise BindingRefused(
                "choosing a calendar other than your main one needs your consent to "
                "'Choose which calendar backs a room' with the same account"
            )
        if self._addressed(record.provider):
            if len(calendar) > 254 or not MAILBOX.match(calendar):
                raise InvalidCalendar(
                    "the mailbox must be an e-mail address such as room@example.com"
                )
            return {"id": calendar.lower(), "name": calendar.lower(), "primary": False}
        for listed in self._calendars(chooser):
            if listed.id == calendar:
                if listed.primary:
                    return {"id": PRIMARY, "name": None, "primary": True}
                return {"id": listed.id, "name": listed.name, "primary": False}
        raise InvalidCalendar("that calendar is not in your calendar list")

    def _calendars(self, chooser: GrantRecord) -> list[CalendarInfo]:
        try:
            listed = self.grants.calendars(chooser)
        except GrantUnavailable:
            raise CalendarListUnavailable(
                "your consent to choose a calendar is no longer active; give it again"
            ) from None
        except ConnectorError:
            raise CalendarListUnavailable(
                "your calendar list could not be loaded; try again later"
            ) from None
        if listed is None:
            raise CalendarListUnavailable("this provider cannot list calendars")
        found: list[CalendarInfo] = listed
        return found

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

    def _drop_binding(self, uid: str, room_id: str, actor: str, action: str) -> bool:
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


def _validated(data: dict[str, Any]) -> RoomSpec:
    try:
        return RoomSpec.model_validate(data)
    except ValidationError as error:
        raise InvalidRoom(describe(error)) from None


def room_json(room: Room, *, bound: bool) -> dict[str, Any]:
    """A room as the admin API shows it."""
    return {
        **room.spec(),
        "created": _iso(room.created),
        "updated": _iso(room.updated),
        "bound": bound,
    }


def _iso(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )

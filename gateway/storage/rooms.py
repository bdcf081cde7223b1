"""Rooms and their bindings in Redis: where each lives, and the few writes that must agree.

Keys (add them to the schema in gateway/storage/keys.py):

    gw:room:<id>                string JSON room: id, name, location, time_zone, hours, host
                                       (an opaque user id), visibility, created, updated.
                                       Not personal but for the host id.      (no TTL)
    gw:rooms                    set    every room id                              (no TTL)
    gw:room:<id>:bound          string "<uid> <gid> <version> [<gid> <version>]... ~<gen>":
                                       the calendars that back the room, for free/busy
                                       (each version keys its calendar's cache; gen orders
                                       the writes); in the host's index (until unbound or
                                       revoked). An older pointer has one pair and no gen.
    gw:room:<id>:history        stream bind/rebind/unbind entries: actor uid, action, grant id,
                                       at. Opaque ids only; append-only; capped at
                                       HISTORY_MAX entries and expires HISTORY_SECONDS after the
                                       last entry (the audit trail's one year)
    gw:{u:UID}:hosted           set    ids of the rooms this user hosts (erasure finds them)
    gw:{u:UID}:bindings         set    ids of the rooms this user has bound
    gw:{u:UID}:binding:<room>   hash   room, grant, provider, since, calendar (sealed under the
                                       grant's data key: id and name, which can be an e-mail),
                                       account (bound to a primary calendar only: a keyed hash
                                       of the provider account, so reconnecting that account
                                       after the provider ended the grant restores it)
                                       Several calendars (up to MAX_CALENDARS): room, gen, and
                                       one field "cal:<version>" per calendar holding JSON
                                       {grant, provider, calendar, since, account}; a hash of
                                       the older shape (the fields above) is one calendar,
                                       rewritten in the new shape by the next change
                                       (storage/room_calendars.py: the fields, the pointer,
                                       the scripts that keep them in step).

A binding's hash, its set entry and the host's index entry share the host's slot and are
written in one transaction; the pointer lives in the room's own slot and is written after
the binding (and its calendars are removed from it before they leave the binding), so a
reader that follows the pointer finds the binding or nothing. Each change of a binding
bumps its gen, and the pointer is rewritten only by a newer gen than the one it holds.
Room ids are slugs and user ids are URL-safe tokens, checked before they get here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import cast

import redis

from gateway.storage import answers, keys
from gateway.storage.errors import StorageError
from gateway.storage.readable import get_many_text, get_text, hgetall_text, unreadable
from gateway.storage.room_calendars import (
    CHANGE_ATTEMPTS,
    CHANGE_BINDING,
    DROP_PAIRS,
    MAX_CALENDARS,
    WRITE_POINTER,
    BindingRecord,
    Pointer,
    first_pointer,
    gen_of,
    new_record,
    pointers_in,
    records_of,
    shaped,
    with_version,
)

HISTORY_MAX = 1000
# Room documents found well-formed: their text -> the room id they name (nothing per user).
CHECKED_KEPT = 10_000
HISTORY_SECONDS = 365 * 24 * 3600


def room(room_id: str) -> str:
    return f"{keys.PREFIX}:room:{room_id}"


ROOMS = f"{keys.PREFIX}:rooms"


def room_bound(room_id: str) -> str:
    return f"{room(room_id)}:bound"


def room_history(room_id: str) -> str:
    return f"{room(room_id)}:history"


def hosted(uid: str) -> str:
    return f"{keys.user_tag(uid)}:hosted"


def bindings(uid: str) -> str:
    return f"{keys.user_tag(uid)}:bindings"


def binding(uid: str, room_id: str) -> str:
    return f"{keys.user_tag(uid)}:binding:{room_id}"


@dataclass(frozen=True)
class HistoryEntry:
    id: str
    actor: str
    action: str
    grant: str
    at: float


class RoomStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._write_pointer = client.register_script(WRITE_POINTER)
        self._drop_pairs = client.register_script(DROP_PAIRS)
        self._change_binding = client.register_script(CHANGE_BINDING)
        self._checked: dict[str, str] = {}

    def _document(self, room_id: str, value: str | None) -> str | None:
        """The stored text when it is a JSON object naming this room, else None (missing).

        Anything else (foreign bytes, a pickle, another room's document) is never handed
        to the parsers above. Warm reads see the same texts again: each is checked once."""
        if value is None or self._checked.get(value) == room_id:
            return value
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("id") != room_id:
            unreadable("room document")
            return None
        if len(self._checked) >= CHECKED_KEPT:
            self._checked.clear()
        self._checked[value] = room_id
        return value

    # -- rooms ---------------------------------------------------------------------------------
    def create(self, room_id: str, document: str, host: str | None) -> bool:
        """False when the id is taken."""
        if not self.client.set(room(room_id), document, nx=True):
            return False
        self.client.sadd(ROOMS, room_id)
        if host:
            self.client.sadd(hosted(host), room_id)
        return True

    def load(self, room_id: str) -> str | None:
        return self._document(room_id, get_text(self.client, room(room_id), "room document"))

    def load_many(self, room_ids: list[str]) -> list[str | None]:
        """The rooms' documents in one MGET (one per node on a cluster)."""
        if not room_ids:
            return []
        values = get_many_text(self.client, [room(r) for r in room_ids], "room document")
        return [self._document(r, v) for r, v in zip(room_ids, values, strict=True)]

    def ids(self) -> list[str]:
        return sorted(str(r) for r in self.client.smembers(ROOMS))

    def save(self, room_id: str, document: str, old_host: str | None, host: str | None) -> None:
        self.client.set(room(room_id), document, xx=True)
        if old_host and old_host != host:
            self.client.srem(hosted(old_host), room_id)
        if host:
            self.client.sadd(hosted(host), room_id)
        answers.bump(self.client)

    def delete(self, room_id: str, host: str | None) -> None:
        self.client.delete(room(room_id), room_bound(room_id))
        self.client.srem(ROOMS, room_id)
        if host:
            self.client.srem(hosted(host), room_id)
        answers.bump(self.client)

    def exists(self, room_id: str) -> bool:
        return bool(self.client.exists(room(room_id)))

    def hosted_by(self, uid: str) -> list[str]:
        return sorted(str(r) for r in self.client.smembers(hosted(uid)))

    def forget(self, uid: str) -> None:
        """Drop the user's (by now empty) room indexes."""
        self.client.delete(hosted(uid), bindings(uid))

    def user_exists(self, uid: str) -> bool:
        return bool(self.client.exists(keys.profile(uid)))

    # -- bindings ------------------------------------------------------------------------------
    def bind(
        self,
        uid: str,
        room_id: str,
        *,
        gid: str,
        provider: str,
        sealed_calendar: str,
        account_mark: str = "",
    ) -> str:
        """Back the room by this one calendar, replacing any others; its version."""
        added = new_record(uid, room_id, gid, provider, sealed_calendar, account_mark)
        before = self.load_bindings(uid, room_id)
        self._drop_from_pointer(room_id, [b.version for b in before])
        self._change(uid, room_id, lambda _found: [added])
        return added.version

    def add_calendar(
        self,
        uid: str,
        room_id: str,
        *,
        gid: str,
        provider: str,
        sealed_calendar: str,
        account_mark: str = "",
        limit: int = MAX_CALENDARS,
    ) -> str | None:
        """Back the room by one more calendar; its version, or None when the room has
        `limit` already. An older-shaped binding is rewritten in the new shape."""
        added = new_record(uid, room_id, gid, provider, sealed_calendar, account_mark)
        changed = self._change(
            uid, room_id, lambda found: None if len(found) >= limit else [*found, added]
        )
        return added.version if changed is not None else None

    def replace_calendar(
        self,
        uid: str,
        room_id: str,
        version: str,
        *,
        gid: str,
        provider: str,
        sealed_calendar: str,
        account_mark: str = "",
    ) -> str | None:
        """Put a calendar in the place of calendar `version` (a grant replaced by another);
        the new version, or None when that calendar is gone."""
        added = new_record(uid, room_id, gid, provider, sealed_calendar, account_mark)
        self._drop_from_pointer(room_id, [version])
        changed = self._change(
            uid,
            room_id,
            lambda found: (
                [added if b.version == version else b for b in found]
                if any(b.version == version for b in found)
                else None
            ),
        )
        if changed is None:
            self._sync_pointer(uid, room_id)
        return added.version if changed is not None else None

    def remove_calendars(
        self, uid: str, room_id: str, versions: Collection[str]
    ) -> list[BindingRecord]:
        """Remove these calendars of the room's binding (all of them: unbound); those removed.
        They leave the pointer first, so free/busy never follows it to a missing calendar."""
        doomed = set(versions)
        self._drop_from_pointer(room_id, doomed)
        changed = self._change(
            uid, room_id, lambda found: [b for b in found if b.version not in doomed]
        )
        if changed is None:
            return []
        before, _ = changed
        return [b for b in before if b.version in doomed]

    def unbind(self, uid: str, room_id: str) -> str | None:
        """Remove the user's binding of the room (every calendar); a grant id it used, or None."""
        found = self.load_bindings(uid, room_id)
        removed = self.remove_calendars(uid, room_id, [b.version for b in found])
        return removed[0].gid if removed else None

    def pointer(self, room_id: str) -> tuple[str, str] | None:
        """(uid, gid) of the room's first calendar, if it has one."""
        found = first_pointer(get_text(self.client, room_bound(room_id), "room binding pointer"))
        return (found[0], found[1]) if found else None

    def load_with_pointers(
        self, room_ids: list[str]
    ) -> tuple[list[str | None], dict[str, tuple[str, str, str]]]:
        """Documents and binding pointers (the first calendar's) of `room_ids` in one MGET."""
        documents, found = self.load_with_pointer_sets(room_ids)
        return documents, {room_id: pairs[0] for room_id, pairs in found.items()}

    def load_with_pointer_sets(
        self, room_ids: list[str]
    ) -> tuple[list[str | None], dict[str, tuple[Pointer, ...]]]:
        """Documents and every calendar's pointer of `room_ids` in one MGET (the warm path)."""
        if not room_ids:
            return [], {}
        values = get_many_text(
            self.client,
            [room(r) for r in room_ids] + [room_bound(r) for r in room_ids],
            "room document or binding pointer",
        )
        documents = [
            self._document(r, v) for r, v in zip(room_ids, values[: len(room_ids)], strict=True)
        ]
        pointers = {}
        for room_id, value in zip(room_ids, values[len(room_ids) :], strict=True):
            parsed = pointers_in(value)
            if parsed:
                pointers[room_id] = parsed
        return documents, pointers

    def pointers(self, room_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """(uid, gid, binding version) of the first calendar of every bound room, one MGET."""
        return {room_id: pairs[0] for room_id, pairs in self.pointer_sets(room_ids).items()}

    def pointer_sets(self, room_ids: list[str]) -> dict[str, tuple[Pointer, ...]]:
        """(uid, gid, version) of every calendar of every bound room among `room_ids`."""
        if not room_ids:
            return {}
        values = get_many_text(
            self.client, [room_bound(r) for r in room_ids], "room binding pointer"
        )
        found = {}
        for room_id, value in zip(room_ids, values, strict=True):
            parsed = pointers_in(value)
            if parsed:
                found[room_id] = parsed
        return found

    def load_binding(self, uid: str, room_id: str) -> BindingRecord | None:
        """The room's first calendar (see load_bindings for all)."""
        found = self.load_bindings(uid, room_id)
        return found[0] if found else None

    def load_bindings(self, uid: str, room_id: str) -> list[BindingRecord]:
        """Every calendar of the user's binding of the room, oldest first."""
        return self.bindings_of(uid, [room_id])

    def bindings_of(self, uid: str, room_ids: list[str] | None = None) -> list[BindingRecord]:
        """The user's bindings, one record per calendar (only of `room_ids` when given), in
        one round trip (two for a binding of the older shape: its version is the pointer's)."""
        if room_ids is None:
            room_ids = sorted(str(r) for r in self.client.smembers(bindings(uid)))
        pipe = self.client.pipeline(transaction=False)
        for room_id in room_ids:
            pipe.hgetall(binding(uid, room_id))
        try:
            raws = cast(list[dict[str, str]], pipe.execute())
        except UnicodeDecodeError:  # one is not ours: read them one by one
            raws = [hgetall_text(self.client, binding(uid, r), "room binding") for r in room_ids]
        found = [b for raw in raws for b in records_of(uid, raw)]
        older = [b.room_id for b in found if not b.version]
        if older:
            versions = {r: v[2] for r, v in self.pointers(older).items() if v[0] == uid}
            found = [with_version(b, versions.get(b.room_id, "0")) for b in found]
        return found

    # -- inside: the pointer follows the binding ------------------------------------------
    def _resolved(self, uid: str, room_id: str, found: list[BindingRecord]) -> list[BindingRecord]:
        if any(not b.version for b in found):
            first = self.pointers([room_id]).get(room_id)
            version = first[2] if first and first[0] == uid else "0"  # as bindings_of reads it
            found = [with_version(b, version) for b in found]
        return found

    def _change(
        self,
        uid: str,
        room_id: str,
        edit: Callable[[list[BindingRecord]], list[BindingRecord] | None],
    ) -> tuple[list[BindingRecord], list[BindingRecord]] | None:
        """Apply `edit` to the binding's calendars (None from it: change nothing), written
        only if no other change came between the read and the write (the hash's gen, checked
        in a script: the gateway's Redis user has no WATCH), then rewrite the pointer;
        (before, after)."""
        key = binding(uid, room_id)
        for _ in range(CHANGE_ATTEMPTS):
            raw = hgetall_text(self.client, key, "room binding")
            before = self._resolved(uid, room_id, records_of(uid, raw))
            after = edit(before)
            if after is None:
                return None
            mapping = shaped(room_id, after, gen_of(raw) + 1) if after else {}
            fields = [str(part) for item in mapping.items() for part in item]
            written = self._change_binding(
                keys=[key, bindings(uid), keys.user_index(uid)],
                args=[raw.get("gen", ""), room_id, room_bound(room_id), *fields],
            )
            if written:
                break
        else:
            raise StorageError(f"the binding of room {room_id} kept changing under this write")
        if after:
            self._sync_pointer(uid, room_id)
        else:  # this host's pointer goes, whatever it still names (not another host's)
            self._write_pointer(keys=[room_bound(room_id)], args=[str(2**53), "", uid])
            answers.bump(self.client)
        return before, after

    def _sync_pointer(self, uid: str, room_id: str) -> None:
        """Write the pointer from the binding as it now stands (unless a newer write won)."""
        raw = hgetall_text(self.client, binding(uid, room_id), "room binding")
        found = records_of(uid, raw)
        pairs = " ".join(f"{b.gid} {b.version}" for b in found if b.version)
        value = f"{uid} {pairs} ~{gen_of(raw)}" if pairs else ""
        self._write_pointer(keys=[room_bound(room_id)], args=[str(gen_of(raw)), value, uid])
        answers.bump(self.client)

    def _drop_from_pointer(self, room_id: str, versions: Collection[str]) -> None:
        """Remove these calendars from the pointer, whatever its gen."""
        if versions:
            self._drop_pairs(keys=[room_bound(room_id)], args=list(versions))

    # -- history -------------------------------------------------------------------------------
    def record(self, room_id: str, *, actor: str, action: str, gid: str = "") -> None:
        key = room_history(room_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(
            key,
            {"actor": actor, "action": action, "grant": gid, "at": str(time.time())},
            maxlen=HISTORY_MAX,
            approximate=True,
        )
        pipe.expire(key, HISTORY_SECONDS)
        pipe.execute()

    def forget_in_history(self, uid: str) -> int:
        """Erasure: remove every history entry naming the user, in every room."""
        removed = 0
        for key in self.client.scan_iter(match=f"{keys.PREFIX}:room:*:history", count=500):
            entries: list[tuple[str, dict[str, str]]] = self.client.xrange(key)  # type: ignore[assignment]
            doomed = [entry_id for entry_id, fields in entries if fields.get("actor") == uid]
            if doomed:
                removed += int(self.client.xdel(key, *doomed))
        return removed

    def history(self, room_id: str) -> list[HistoryEntry]:
        try:
            entries = cast(
                list[tuple[str, dict[str, str]]], self.client.xrange(room_history(room_id))
            )
        except UnicodeDecodeError:
            unreadable("room history")
            return []
        return [
            HistoryEntry(
                id=str(entry_id),
                actor=fields.get("actor", ""),
                action=fields.get("action", ""),
                grant=fields.get("grant", ""),
                at=_number(fields.get("at", "0")),
            )
            for entry_id, fields in entries
        ]


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0

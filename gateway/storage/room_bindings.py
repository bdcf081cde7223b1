"""The user's bindings of rooms in Redis, and the pointer that follows them.

A binding (the calendars that back a room) lives in the host's slot; the pointer free/busy
follows lives in the room's slot and is rewritten after the binding, so a reader finds the
binding or nothing (the key layout and the ordering are described in `room_keys`; the
fields and scripts in `room_calendars`). Kept apart from `rooms`, which holds the room
documents themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import cast

import redis

from gateway.storage import answers, keys
from gateway.storage.errors import StorageError
from gateway.storage.readable import get_many_text, get_text, hgetall_text
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
from gateway.storage.room_keys import binding, bindings, room_bound


class RoomBindings:
    """The bindings half of `RoomStore` (a mixin over its Redis client)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._write_pointer = client.register_script(WRITE_POINTER)
        self._drop_pairs = client.register_script(DROP_PAIRS)
        self._change_binding = client.register_script(CHANGE_BINDING)

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

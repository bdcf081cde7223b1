"""Rooms in Redis: each room's document, the index of every room and of each host's.

A `RoomStore` is also its rooms' bindings (`room_bindings`: the calendars that back each
room and the pointer free/busy follows) and history (`room_history`); the keys are listed,
with how their writes agree, in `room_keys`.
"""

from __future__ import annotations

import json

import redis

from gateway.storage import answers, keys
from gateway.storage.readable import get_many_text, get_text, unreadable
from gateway.storage.room_bindings import RoomBindings
from gateway.storage.room_calendars import Pointer, pointers_in
from gateway.storage.room_history import RoomHistory
from gateway.storage.room_keys import ROOMS, bindings, hosted, room, room_bound

# Room documents found well-formed: their text -> the room id they name (nothing per user).
CHECKED_KEPT = 10_000


class RoomStore(RoomBindings, RoomHistory):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
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

"""Rooms and their bindings in Redis: where each lives, and the few writes that must agree.

Keys (add them to the schema in gateway/storage/keys.py):

    gw:room:<id>                string JSON room: id, name, location, time_zone, hours, host
                                       (an opaque user id), visibility, created, updated.
                                       Not personal but for the host id.      (no TTL)
    gw:rooms                    set    every room id                              (no TTL)
    gw:room:<id>:bound          string "<uid> <gid> <version>": who backs the room, for
                                       free/busy (the version keys its cache); in
                                       the host's index              (until unbound or revoked)
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

A binding's hash, its set entry and the host's index entry share the host's slot and are
written in one transaction; the pointer lives in the room's own slot and is written after
the binding (and removed before it), so a reader that follows the pointer finds the binding
or nothing. Room ids are slugs and user ids are URL-safe tokens, checked before they get here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import cast

import redis

from gateway.storage import answers, keys
from gateway.storage.readable import get_many_text, get_text, hgetall_text, unreadable

HISTORY_MAX = 1000
# Room documents found well-formed: their text -> the room id they name (nothing per user).
CHECKED_KEPT = 10_000
HISTORY_SECONDS = 365 * 24 * 3600

# KEYS: pointer. ARGV: expected value. Delete only what the caller set.
# Delete the pointer only while it still names this holder ("uid gid", any version).
_DELETE_IF = """
local value = redis.call('GET', KEYS[1])
if value and (value == ARGV[1] or string.sub(value, 1, #ARGV[1] + 1) == ARGV[1] .. ' ') then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


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
class BindingRecord:
    uid: str
    room_id: str
    gid: str
    provider: str
    sealed_calendar: str
    since: float
    account_mark: str = ""  # primary-calendar bindings: keyed hash of the provider account


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
        self._delete_if = client.register_script(_DELETE_IF)
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
    ) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(binding(uid, room_id))
        pipe.hset(
            binding(uid, room_id),
            mapping={
                "room": room_id,
                "grant": gid,
                "provider": provider,
                "calendar": sealed_calendar,
                "since": str(time.time()),
                **({"account": account_mark} if account_mark else {}),
            },
        )
        pipe.sadd(bindings(uid), room_id)
        pipe.sadd(keys.user_index(uid), room_bound(room_id))
        pipe.execute()
        # The third field versions the binding: cached free/busy is keyed by it, so a
        # rebinding (another calendar) never serves the previous calendar's cache.
        self.client.set(room_bound(room_id), f"{uid} {gid} {time.time_ns()}")
        answers.bump(self.client)

    def unbind(self, uid: str, room_id: str) -> str | None:
        """Remove the user's binding of the room; the grant id it used, or None."""
        gid = hgetall_text(self.client, binding(uid, room_id), "room binding").get("grant")
        if gid is not None:
            self._delete_if(keys=[room_bound(room_id)], args=[f"{uid} {gid}"])
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(binding(uid, room_id))
        pipe.srem(bindings(uid), room_id)
        pipe.srem(keys.user_index(uid), room_bound(room_id))
        pipe.execute()
        answers.bump(self.client)
        return gid

    def pointer(self, room_id: str) -> tuple[str, str] | None:
        found = _pointer(get_text(self.client, room_bound(room_id), "room binding pointer"))
        return (found[0], found[1]) if found else None

    def load_with_pointers(
        self, room_ids: list[str]
    ) -> tuple[list[str | None], dict[str, tuple[str, str, str]]]:
        """Documents and binding pointers of `room_ids` in one MGET (the warm path)."""
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
            parsed = _pointer(value)
            if parsed:
                pointers[room_id] = parsed
        return documents, pointers

    def pointers(self, room_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """(uid, gid, binding version) of every bound room among `room_ids`, in one MGET."""
        values = get_many_text(
            self.client, [room_bound(r) for r in room_ids], "room binding pointer"
        )
        found = {}
        for room_id, value in zip(room_ids, values, strict=True):
            parsed = _pointer(value)
            if parsed:
                found[room_id] = parsed
        return found

    def load_binding(self, uid: str, room_id: str) -> BindingRecord | None:
        return _binding(uid, hgetall_text(self.client, binding(uid, room_id), "room binding"))

    def bindings_of(self, uid: str, room_ids: list[str] | None = None) -> list[BindingRecord]:
        """The user's bindings (only of `room_ids` when given), in one round trip."""
        if room_ids is None:
            room_ids = sorted(str(r) for r in self.client.smembers(bindings(uid)))
        pipe = self.client.pipeline(transaction=False)
        for room_id in room_ids:
            pipe.hgetall(binding(uid, room_id))
        try:
            raws = cast(list[dict[str, str]], pipe.execute())
        except UnicodeDecodeError:  # one is not ours: read them one by one
            raws = [hgetall_text(self.client, binding(uid, r), "room binding") for r in room_ids]
        found = [_binding(uid, raw) for raw in raws]
        return [b for b in found if b is not None]

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


def _pointer(value: object) -> tuple[str, str, str] | None:
    if value is None:
        return None
    parts = str(value).split(" ")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1], parts[2] if len(parts) > 2 else "0"


def _binding(uid: str, raw: dict[str, str]) -> BindingRecord | None:
    if not raw or "grant" not in raw or "room" not in raw:
        return None
    try:
        since = float(raw.get("since", 0))
    except ValueError:
        unreadable("room binding")
        return None
    return BindingRecord(
        uid=uid,
        room_id=raw["room"],
        gid=raw["grant"],
        provider=raw.get("provider", ""),
        sealed_calendar=raw.get("calendar", ""),
        since=since,
        account_mark=raw.get("account", ""),
    )

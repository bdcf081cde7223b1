"""The calendars behind a room as Redis keeps them: the binding hash's fields, the pointer
free/busy follows, and the scripts that keep the two in step (see storage/room_keys.py for the
keys and the order of writes).

A binding hash holds `room`, `gen` and one field `cal:<version>` per calendar (JSON: grant,
provider, calendar sealed under the grant's key, since, account); one of the older shape
holds a single calendar's fields at its top level and reads as one calendar. The pointer
is "<uid> <gid> <version> [<gid> <version>]... ~<gen>" (an older one: "<uid> <gid>
[<version>]").
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from gateway.storage.readable import unreadable

MAX_CALENDARS = 5  # calendars one room may be bound to
CAL = "cal:"  # a binding hash's field per calendar: "cal:<version>"
Pointer = tuple[str, str, str]  # (uid, gid, version) of one calendar backing a room

# KEYS: pointer. ARGV: gen, value ("" deletes), uid. A write of an older gen than the one
# the pointer holds is dropped: the pointer ends as the newest binding anyone read. A delete
# removes only this uid's pointer (another host's, after a change of host, stays).
WRITE_POINTER = """
local current = redis.call('GET', KEYS[1])
if current then
  local held = string.match(current, '~(%d+)$')
  if held and tonumber(held) > tonumber(ARGV[1]) then return 0 end
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[2])
elseif current and string.match(current, '^(%S+)') == ARGV[3] then
  redis.call('DEL', KEYS[1])
end
return 1
"""

# KEYS: binding hash, the user's bindings set, the user's index. ARGV: the gen read ("" for
# none), room id, pointer key name, then the new hash's field/value pairs (none: unbound).
# Written only if the hash still has the gen that was read (a compare-and-set).
CHANGE_BINDING = """
if (redis.call('HGET', KEYS[1], 'gen') or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if #ARGV > 3 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 4))
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
else
  redis.call('SREM', KEYS[2], ARGV[2])
  redis.call('SREM', KEYS[3], ARGV[3])
end
return 1
"""
CHANGE_ATTEMPTS = 20

# KEYS: pointer. ARGV: versions. Remove those calendars' pairs; no pair left: delete it.
DROP_PAIRS = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local parts = {}
for token in string.gmatch(current, '%S+') do table.insert(parts, token) end
local drop = {}
for _, v in ipairs(ARGV) do drop[v] = true end
local kept, left, gen, i = {parts[1]}, 0, nil, 2
while i <= #parts do
  if string.sub(parts[i], 1, 1) == '~' then
    gen = parts[i]
    i = i + 1
  else
    local version = parts[i + 1] or '0'
    if not drop[version] then
      table.insert(kept, parts[i])
      table.insert(kept, version)
      left = left + 1
    end
    i = i + 2
  end
end
if left == 0 then return redis.call('DEL', KEYS[1]) end
if gen then table.insert(kept, gen) end
redis.call('SET', KEYS[1], table.concat(kept, ' '))
return 1
"""


@dataclass(frozen=True)
class BindingRecord:
    uid: str
    room_id: str
    gid: str
    provider: str
    sealed_calendar: str
    since: float
    account_mark: str = ""  # primary-calendar bindings: keyed hash of the provider account
    version: str = ""  # this calendar's version (keys its cache); the pointer's for older ones


def first_pointer(value: object) -> Pointer | None:
    """The first calendar of a pointer."""
    found = pointers_in(value)
    return found[0] if found else None


def pointers_in(value: object) -> tuple[Pointer, ...]:
    """Every calendar of a pointer: "<uid> <gid> <version> [<gid> <version>]... [~<gen>]"
    (an older one: "<uid> <gid> [<version>]", version "0" when absent)."""
    if value is None:
        return ()
    parts = [p for p in str(value).split(" ") if p and not p.startswith("~")]
    if len(parts) < 2 or not parts[0]:
        return ()
    uid, rest = parts[0], parts[1:]
    return tuple(
        (uid, rest[at], rest[at + 1] if at + 1 < len(rest) else "0")
        for at in range(0, len(rest), 2)
    )


def gen_of(raw: dict[str, str]) -> int:
    try:
        return int(raw.get("gen", "0"))
    except ValueError:
        return 0


def new_record(
    uid: str, room_id: str, gid: str, provider: str, sealed_calendar: str, account_mark: str
) -> BindingRecord:
    return BindingRecord(
        uid=uid,
        room_id=room_id,
        gid=gid,
        provider=provider,
        sealed_calendar=sealed_calendar,
        since=time.time(),
        account_mark=account_mark,
        version=str(time.time_ns()),
    )


def with_version(record: BindingRecord, version: str) -> BindingRecord:
    return record if record.version else replace(record, version=version)


def shaped(room_id: str, records: list[BindingRecord], gen: int) -> dict[Any, str]:
    """A binding hash in the new shape: room, gen and one field per calendar."""
    fields: dict[Any, str] = {"room": room_id, "gen": str(gen)}
    for b in records:
        entry = {"grant": b.gid, "provider": b.provider, "calendar": b.sealed_calendar}
        entry |= {"since": str(b.since), **({"account": b.account_mark} if b.account_mark else {})}
        fields[f"{CAL}{b.version}"] = json.dumps(entry, separators=(",", ":"))
    return fields


def records_of(uid: str, raw: dict[str, str]) -> list[BindingRecord]:
    """A binding hash's calendars, oldest first (one of the older shape has version "")."""
    if not raw or "room" not in raw:
        return []
    fields = [dict(raw)] if "grant" in raw else []
    for name, value in raw.items():
        if name.startswith(CAL):
            try:
                entry = json.loads(value)
            except ValueError:
                entry = None
            if isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values()):
                fields.append({**entry, "version": name.removeprefix(CAL)})
            else:
                unreadable("room binding")
    found = [r for r in (_record(uid, raw["room"], f) for f in fields) if r is not None]
    return sorted(found, key=lambda b: (len(b.version), b.version))


def _record(uid: str, room_id: str, raw: dict[str, str]) -> BindingRecord | None:
    if "grant" not in raw:
        return None
    try:
        since = float(raw.get("since", 0))
    except ValueError:
        unreadable("room binding")
        return None
    return BindingRecord(
        uid=uid,
        room_id=room_id,
        gid=raw["grant"],
        provider=raw.get("provider", ""),
        sealed_calendar=raw.get("calendar", ""),
        since=since,
        account_mark=raw.get("account", ""),
        version=raw.get("version", ""),
    )

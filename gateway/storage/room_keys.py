"""The Redis keys of rooms and their bindings, and how the writes to them agree.

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

from gateway.storage import keys


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

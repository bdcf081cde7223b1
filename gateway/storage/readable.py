"""Reading values that may not be ours: what is not UTF-8 text reads as missing.

The gateway's client decodes every reply as UTF-8, so a value damaged or planted in Redis
that is not UTF-8 (a binary pickle, say) makes redis-py raise UnicodeDecodeError; redis-py
drops that connection first, so nothing is left half-read on it. These helpers turn such a
value into "missing", one key or one hash field at a time, and log one line saying what
kind of record it was (never the key, which can hold a digest of a secret, nor the value).
The fast path is the plain command: the per-key fallback runs only when a reply failed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

import redis

from gateway.storage.redis_client import get_many

log = logging.getLogger("gateway.storage")


def unreadable(what: str) -> None:
    """The one log line for a record that is not what the gateway wrote."""
    log.warning("unreadable %s in Redis: treated as missing", what)


def get_text(client: redis.Redis, name: str, what: str) -> str | None:
    try:
        value = client.get(name)
    except UnicodeDecodeError:
        unreadable(what)
        return None
    return None if value is None else str(value)


def get_many_text(client: redis.Redis, names: Sequence[str], what: str) -> list[str | None]:
    """get_many, with every value that is not UTF-8 read as None (and only those)."""
    if not names:
        return []
    try:
        values = get_many(client, names)
    except UnicodeDecodeError:
        return [get_text(client, name, what) for name in names]
    return [None if v is None else str(v) for v in values]


def hgetall_text(
    client: redis.Redis, name: str, what: str, *, whole: bool = False
) -> dict[str, str]:
    """HGETALL, leaving out every field or value that is not UTF-8; with `whole`, a hash
    with any such field reads as empty (missing) instead."""
    try:
        return cast(dict[str, str], client.hgetall(name))
    except UnicodeDecodeError:
        if whole:
            unreadable(what)
            return {}
    try:
        fields = [str(f) for f in cast(list[str], client.hkeys(name))]
    except UnicodeDecodeError:
        unreadable(what)
        return {}
    found: dict[str, str] = {}
    for field in fields:
        try:
            value = client.hget(name, field)
        except UnicodeDecodeError:
            unreadable(what)
            continue
        if value is not None:
            found[field] = str(value)
    return found

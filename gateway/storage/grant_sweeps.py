"""Walks over every grant and wrapped data key in Redis (SCAN): admin sweeps, retention,
keep-alive refresh and key rotation; never a request's path."""

from __future__ import annotations

from collections.abc import Iterator

import redis

from gateway.storage import keys


def every_grant(client: redis.Redis) -> Iterator[tuple[str, str]]:
    """(uid, gid) of every grant record: the sweeps (keep-alive refresh) walk them."""
    for key in client.scan_iter(match=f"{keys.PREFIX}:{{u:*}}:grant:*", count=500):
        name = str(key)
        if keys.holds_wrapped_key(name):
            yield keys.owner_of_key(name), name.rpartition(":grant:")[2]


def wrapped_keys(client: redis.Redis) -> Iterator[tuple[str, str]]:
    """(redis key, wrapped data key) of every profile and grant, and of the stable secrets:
    the sweep rotation walks."""
    stable = client.hget(keys.STABLE_SECRETS, "dk")
    if stable is not None:
        yield keys.STABLE_SECRETS, str(stable)
    for pattern in keys.WRAPPED_KEY_PATTERNS:
        for key in client.scan_iter(match=pattern, count=500):
            name = str(key)
            if not keys.holds_wrapped_key(name):
                continue
            wrapped = client.hget(name, "dk")
            if wrapped is not None:
                yield name, str(wrapped)

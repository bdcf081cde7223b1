"""Several grants' provider and status in one round trip: the free/busy path asks it of
every grant a query must fetch or refresh, and of every grant after a cold fetch (one
HGETALL per grant was a round trip each, tokens included: README "Benchmarks", issue 17).

One pipeline of HMGETs (one per node on a Redis Cluster), without the sealed tokens. What it
says is what `GrantStore.load` would say: a grant whose numbers do not read, which `load`
makes broken, or one with a field that is not UTF-8, sends every grant of the call through
`load` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis

from gateway.storage import keys

State = tuple[str, str]  # (provider, status)
BROKEN = "broken"  # storage/grants.py's status for a grant without one


def read_states(
    client: redis.Redis,
    pairs: Sequence[tuple[str, str]],
    load: Callable[[str, str], Any],
    times: Sequence[str],
    counts: Sequence[str],
) -> list[State | None]:
    """(provider, status) per (uid, gid) of `pairs`, None for a grant that is not there;
    `load` reads one grant whole, `times` and `counts` are its numeric fields."""
    pipe = client.pipeline(transaction=False)
    for uid, gid in pairs:
        pipe.hmget(keys.grant(uid, gid), ["id", "provider", "status", *times, *counts])
    try:
        found = pipe.execute()
    except UnicodeDecodeError:  # a field that is not ours: `load` leaves it out
        found = []
    if len(found) != len(pairs) or any(
        _odd(row[3:], len(times)) for row in found if row[0] is not None
    ):
        return [(r.provider, r.status) if (r := load(*pair)) else None for pair in pairs]
    return [None if row[0] is None else (row[1] or "", row[2] or BROKEN) for row in found]


def _odd(numbers: Sequence[str | None], times: int) -> bool:
    """Whether `load` would find these numbers unreadable (times floats, the rest ints)."""
    try:
        for n, value in enumerate(numbers):
            (float if n < times else int)(0 if value is None else value)
    except ValueError:
        return True
    return False

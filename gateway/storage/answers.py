"""One counter that moves whenever any free/busy answer may have changed.

Workers keep recent free/busy answers in memory (services/freebusy.py) so that a warm
request costs one read of this counter instead of reading rooms, bindings, restriction
flags and cached days again. Every write that can change an answer bumps the counter after
it has committed: a cache fill, a grant purged or revoked, a binding made or ended, a room
changed or deleted, a restriction set or lifted. A worker reads the counter before it reads
anything else, so a change that commits after that read is seen by its next request.

    gw:{answers}:generation   string  counter (no personal data, no expiry)
"""

from __future__ import annotations

import redis

from gateway.storage.keys import PREFIX

GENERATION = f"{PREFIX}:{{answers}}:generation"


def current(client: redis.Redis) -> str:
    return str(client.get(GENERATION) or "0")


def bump(client: redis.Redis) -> None:
    client.incr(GENERATION)

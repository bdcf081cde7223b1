"""How many grants need reconnecting now, and how many rooms answer `needs_reconnect`
because of them: two numbers the worker's `count-reconnects` job writes and every web
process reports at /metrics (gateway_grants_needing_reconnect, gateway_rooms_needing_reconnect).

Why a job and not a count at each scrape: finding them walks every room and its grants,
too much for every scrape of every pod; why not a counter kept on each state change: a
grant ends in several places (refresh, revocation, retention, a restore) and a room stops
needing reconnection by a new consent or by being unbound, so a counter would drift and
never come back. The job recounts from scratch every few minutes instead.

    gw:reconnect-counts   hash  grants, rooms: counts; at: UNIX time of the count

No personal data: two counts and a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from gateway.storage import keys

KEY = f"{keys.PREFIX}:reconnect-counts"


@dataclass(frozen=True)
class ReconnectCounts:
    grants: int
    rooms: int
    at: float


def write(client: redis.Redis, grants: int, rooms: int, at: float) -> None:
    client.hset(KEY, mapping={"grants": str(grants), "rooms": str(rooms), "at": f"{at:.3f}"})


def read(client: redis.Redis) -> ReconnectCounts | None:
    """The last count, or None when none was written (or it is not ours to read)."""
    grants, rooms, at = client.hmget(KEY, ["grants", "rooms", "at"])
    try:
        return ReconnectCounts(int(str(grants)), int(str(rooms)), float(str(at)))
    except ValueError:
        return None

"""Counters of attempts to connect a typed credential (an app password), per person and per
target host, shared by every worker.

A form that checks a password against a server the member names is a password oracle
against that server, and a way to make the gateway knock on it: so each person has a
budget of attempts, and each target host a budget of failed ones, per window. Names are
SHA-256 digests: no user id or host name sits in a key in the clear.
"""

from __future__ import annotations

import redis

from gateway.storage import keys


class AttemptCounter:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _key(self, what: str, who: str) -> str:
        return f"{keys.PREFIX}:attempts:{what}:{keys.digest(who)}"

    def add(self, what: str, who: str, window_seconds: int) -> int:
        """Count one attempt; how many there were in this window, this one included."""
        key = self._key(what, who)
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window_seconds, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def count(self, what: str, who: str) -> int:
        value = self.client.get(self._key(what, who))
        return int(value) if value else 0

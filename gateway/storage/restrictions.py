"""Restriction of processing (GDPR Art. 18): one flag per user, since when (keys.restricted).

Setting or lifting one changes what free/busy may publish, so each also moves the
remembered answers' generation (answers.py)."""

from __future__ import annotations

import redis

from gateway.storage import answers, keys
from gateway.storage.redis_client import get_many


class RestrictionStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def restrict(self, uid: str, since: float) -> None:
        """Restricted from `since`, unless it already was (the first time stays)."""
        self.client.set(keys.restricted(uid), str(since), nx=True)
        answers.bump(self.client)

    def lift(self, uid: str) -> None:
        self.client.delete(keys.restricted(uid))
        answers.bump(self.client)

    def since(self, uid: str) -> float | None:
        value = self.client.get(keys.restricted(uid))
        return float(str(value)) if value is not None else None

    def among(self, uids: set[str]) -> set[str]:
        """Which of `uids` are restricted (one MGET, split per node on a cluster)."""
        ordered = sorted(uids)
        if not ordered:
            return set()
        flags = get_many(self.client, [keys.restricted(u) for u in ordered])
        return {u for u, flag in zip(ordered, flags, strict=True) if flag is not None}

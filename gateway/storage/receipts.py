"""Signed revocation receipts, kept with their owner until erasure (keys.receipts)."""

from __future__ import annotations

from typing import cast

import redis

from gateway.storage import keys

RECEIPTS_KEPT = 100


class ReceiptStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def file(self, uid: str, receipt: str, *, forgotten_grant: str | None = None) -> None:
        """Keep `receipt` (the newest RECEIPTS_KEPT stay); with `forgotten_grant`, that
        grant's remaining record and its place in the user's set go in the same
        transaction (all under the user's hash tag)."""
        pipe = self.client.pipeline(transaction=True)
        if forgotten_grant is not None:
            pipe.delete(keys.grant(uid, forgotten_grant))
            pipe.srem(keys.grants(uid), forgotten_grant)
        pipe.lpush(keys.receipts(uid), receipt)
        pipe.ltrim(keys.receipts(uid), 0, RECEIPTS_KEPT - 1)
        pipe.execute()

    def of(self, uid: str) -> list[str]:
        """The user's receipts, newest first, as filed."""
        return cast(list[str], self.client.lrange(keys.receipts(uid), 0, -1))

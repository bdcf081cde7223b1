"""The last step of an erasure: every key left of a user, wherever it is named from."""

from __future__ import annotations

from typing import cast

import redis

from gateway.storage import keys
from gateway.storage.access_log import access_key


class ErasureStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def delete_all_of(self, uid: str) -> int:
        """Delete the keys in the user's index, every key under their hash tag (SCAN, so a
        key no index lists goes too), their receipts and access counts; how many existed."""
        index = [str(k) for k in cast(set[str], self.client.smembers(keys.user_index(uid)))]
        tagged = [str(k) for k in self.client.scan_iter(match=f"{keys.user_tag(uid)}:*", count=500)]
        doomed = sorted(set(index) | set(tagged) | {keys.receipts(uid), access_key(uid)})
        return int(self.client.delete(*doomed)) if doomed else 0

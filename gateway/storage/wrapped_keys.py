"""Every wrapped data key (of profiles and grants), and the retired key-ring versions: what
key rotation reads and changes (services/key_rotation.py)."""

from __future__ import annotations

from collections.abc import Iterator

import redis

from gateway.storage import keys
from gateway.storage.grant_sweeps import wrapped_keys
from gateway.storage.grants import GrantStore


class WrappedKeyStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._grants = GrantStore(client)

    def every(self) -> Iterator[tuple[str, str]]:
        """(redis key, wrapped data key) of every profile and grant (SCAN)."""
        return wrapped_keys(self.client)

    def provider_of(self, key: str) -> str:
        """The provider of the grant whose hash is `key` (its data key's context names it)."""
        return str(self.client.hget(key, "provider"))

    def rewrap(self, key: str, old: str, new: str) -> bool:
        """Replace `old` by `new` unless the key changed meanwhile (compare-and-set)."""
        return self._grants.rewrap(key, old, new)

    def retired(self) -> set[str]:
        return {str(v) for v in self.client.smembers(keys.RETIRED_KEY_VERSIONS)}

    def retire(self, version: str) -> None:
        self.client.sadd(keys.RETIRED_KEY_VERSIONS, version)

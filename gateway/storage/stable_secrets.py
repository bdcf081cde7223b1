"""Secrets that must outlive a rotation of GATEWAY_SECRET_KEY, kept in Redis under the key ring.

API client secret hashes, receipt signatures, audit pseudonyms and the keyed names of sign-in
subjects are computed with a secret, and each must give the same answer for years: a client
secret issued last year still authenticates, a receipt still verifies, a pseudonym in the
audit trail still names the same person. So they are not keyed by the configured secret key
(which the operator rotates, and whose old values they drop), but by a secret stored here the
first time a gateway starts: the oldest key of the configured ring, so data computed before
this store existed keeps matching.

Stored as one hash: a data key wrapped by the key ring (rotated and retired with every other
data key: `keys rotate` re-wraps it) and each secret sealed under it. The first process to
start writes it (HSETNX); every other reads what that one wrote.
"""

from __future__ import annotations

import base64

import redis

from gateway.crypto.vault import Vault
from gateway.storage import keys

CONTEXT = "stable-secrets"


class StableSecrets:
    def __init__(self, client: redis.Redis, vault: Vault) -> None:
        self.client = client
        self.vault = vault

    def _data_key(self) -> bytes:
        wrapped = self.client.hget(keys.STABLE_SECRETS, "dk")
        if wrapped is None:
            _, fresh = self.vault.new_owner_key(CONTEXT)
            self.client.hsetnx(keys.STABLE_SECRETS, "dk", fresh)
            wrapped = self.client.hget(keys.STABLE_SECRETS, "dk")  # whoever won
        return self.vault.owner_key(str(wrapped), CONTEXT)

    def find(self, name: str) -> bytes | None:
        """The secret stored under `name`, or None: a reader that must not create one."""
        sealed = self.client.hget(keys.STABLE_SECRETS, name)
        if sealed is None:
            return None
        data_key = self._data_key()
        return base64.b64decode(self.vault.open_json(data_key, str(sealed), CONTEXT, name))

    def get(self, name: str, initial: bytes) -> bytes:
        """The secret stored under `name`; `initial` is stored first when there is none yet."""
        data_key = self._data_key()
        sealed = self.client.hget(keys.STABLE_SECRETS, name)
        if sealed is None:
            value = base64.b64encode(initial).decode()
            self.client.hsetnx(
                keys.STABLE_SECRETS, name, self.vault.seal_json(data_key, value, CONTEXT, name)
            )
            sealed = self.client.hget(keys.STABLE_SECRETS, name)
        return base64.b64decode(self.vault.open_json(data_key, str(sealed), CONTEXT, name))

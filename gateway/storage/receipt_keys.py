"""The deployment's receipt signing keys (crypto/receipt_keys.py), shared by every process.

    gw:receipt-keys   hash  "current" -> kid of the signing key; "kid:<kid>" -> UNIX time
                            it was made (every kid listed is published)

Each private key is a stable secret (`receipt-key:<kid>` in storage/stable_secrets.py): sealed
under the data key the key ring wraps, written once with HSETNX. The first key is made on
first use: the kid is claimed with HSETNX, and whichever private key is stored first under
that kid is the one every process then reads, so two processes starting at once agree.
A rotation makes a new kid, stores its key, then points "current" at it; the old kids stay.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import cast

import redis

from gateway.crypto.receipt_keys import KeyUnavailable, ReceiptKey, new_private_key
from gateway.storage import keys
from gateway.storage.stable_secrets import StableSecrets

CURRENT = "current"


def _secret_name(kid: str) -> str:
    return f"receipt-key:{kid}"


def _new_kid() -> str:
    return time.strftime("%Y-%m-%d-", time.gmtime()) + secrets.token_hex(4)


class ReceiptKeyStore:
    def __init__(self, client: redis.Redis, stable: StableSecrets) -> None:
        self.client = client
        self.stable = stable
        self._known: dict[str, ReceiptKey] = {}  # kid -> key: a kid's key never changes
        self._lock = threading.Lock()

    def _key(self, kid: str, *, create: bool) -> ReceiptKey | None:
        with self._lock:
            if kid in self._known:
                return self._known[kid]
        name = _secret_name(kid)
        private = self.stable.get(name, new_private_key()) if create else self.stable.find(name)
        if private is None:
            return None
        key = ReceiptKey(kid, private)
        with self._lock:
            self._known[kid] = key
        return key

    def signing_key(self) -> ReceiptKey:
        """The current key, made on first use; KeyUnavailable when Redis refuses to store
        it (its memory limit)."""
        try:
            kid = self.client.hget(keys.RECEIPT_KEYS, CURRENT)
            if kid is None:
                fresh = _new_kid()
                self.client.hsetnx(keys.RECEIPT_KEYS, f"kid:{fresh}", str(time.time()))
                if self.client.hsetnx(keys.RECEIPT_KEYS, CURRENT, fresh):
                    kid = fresh
                else:  # another process got there first: not ours to publish
                    self.client.hdel(keys.RECEIPT_KEYS, f"kid:{fresh}")
                    kid = self.client.hget(keys.RECEIPT_KEYS, CURRENT)
            key = self._key(str(kid), create=True)
        except redis.exceptions.OutOfMemoryError:
            raise KeyUnavailable("Redis refuses to store a receipt key now") from None
        assert key is not None  # created above
        return key

    def rotate(self) -> str:
        """Make a new signing key and sign with it from now on; the old ones stay published."""
        kid = _new_kid()
        self.client.hset(keys.RECEIPT_KEYS, f"kid:{kid}", str(time.time()))
        self._key(kid, create=True)  # stored before any process can be told to use it
        self.client.hset(keys.RECEIPT_KEYS, CURRENT, kid)
        return kid

    def kids(self) -> list[tuple[str, float]]:
        """(kid, when made) of every published key, oldest first."""
        fields = cast(dict[str, str], self.client.hgetall(keys.RECEIPT_KEYS))
        made = [(f[4:], float(v)) for f, v in fields.items() if f.startswith("kid:")]
        return sorted(made, key=lambda pair: (pair[1], pair[0]))

    def public_keys(self) -> list[dict[str, str]]:
        """The public JWK of every key ever used to sign, oldest first."""
        found = []
        for kid, _made in self.kids():
            key = self._key(kid, create=False)
            if key is not None:  # listed by a process that died before storing it
                found.append(key.public_jwk())
        return found

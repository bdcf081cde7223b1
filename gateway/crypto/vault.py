"""Sealing personal data and tokens under per-owner data keys (see keyring.py for the scheme).

An owner is a user (profile, identities) or a grant (tokens, provider subject). Each has one
random data key, stored wrapped next to its data; the context strings bind every ciphertext
and every wrapped key to its owner, so nothing can be moved between owners unnoticed.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.crypto.keyring import KeyRing, decrypt, encrypt, new_data_key


def user_context(uid: str) -> str:
    return f"user:{uid}"


def grant_context(uid: str, provider: str, gid: str) -> str:
    return f"grant:{uid}|{provider}|{gid}"


class Vault:
    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    def new_owner_key(self, context: str) -> tuple[bytes, str]:
        """A fresh data key and its wrapped form (what is stored)."""
        data_key = new_data_key()
        return data_key, self.keyring.wrap(data_key, context)

    def owner_key(self, wrapped: str, context: str) -> bytes:
        return self.keyring.unwrap(wrapped, context)

    @staticmethod
    def seal_json(data_key: bytes, value: Any, context: str, field: str) -> str:
        """`value` as JSON without whitespace (open_json reads the older spaced form too)."""
        body = json.dumps(value, separators=(",", ":")).encode()
        return encrypt(data_key, body, f"{context}|{field}")

    @staticmethod
    def open_json(data_key: bytes, sealed: str, context: str, field: str) -> Any:
        return json.loads(decrypt(data_key, sealed, f"{context}|{field}"))

    def rewrap(self, wrapped: str, context: str) -> str:
        """The same data key wrapped under the newest key-encryption key (rotation)."""
        return self.keyring.wrap(self.keyring.unwrap(wrapped, context), context)

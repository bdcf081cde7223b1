"""Envelope encryption: per-owner data keys, wrapped by a ring of versioned key-encryption keys.

Every grant (and every user profile) has its own random AES-256-GCM data key. Data is
encrypted with it, with associated data naming what the ciphertext belongs to, so a
ciphertext copied under another owner's key fails to decrypt instead of being read as theirs.
The data key is stored wrapped by the newest key-encryption key (KEK) of the ring, tagged
with that KEK's version; rotation re-wraps data keys under the newest KEK, and deleting a
wrapped data key makes everything encrypted with it unreadable at once (crypto-shredding).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


class KeyRingError(ValueError):
    """The configured key ring is malformed; the message is one line saying what to fix."""


class DecryptionFailed(Exception):
    """A ciphertext does not belong where it was found, or was altered. Never shows data."""


class KeyRetired(DecryptionFailed):
    """A data key is wrapped by a key-encryption key that is no longer in the ring."""


@dataclass(frozen=True)
class KeyRing:
    """Versioned key-encryption keys, newest first."""

    keys: tuple[tuple[str, bytes], ...] = field(repr=False)

    @property
    def newest(self) -> str:
        return self.keys[0][0]

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(version for version, _ in self.keys)

    def _key(self, version: str) -> bytes:
        for known, key in self.keys:
            if known == version:
                return key
        raise KeyRetired(f"key-encryption key {version!r} is not in the key ring")

    def wrap(self, data_key: bytes, context: str) -> str:
        """`<version>:<base64(nonce || AES-GCM(data_key))>` under the newest KEK."""
        version, kek = self.keys[0]
        return f"{version}:{_seal(kek, data_key, b'wrap|' + context.encode())}"

    def unwrap(self, wrapped: str, context: str) -> bytes:
        version, _, sealed = wrapped.partition(":")
        data_key = _open(self._key(version), sealed, b"wrap|" + context.encode())
        if len(data_key) != KEY_BYTES:
            raise DecryptionFailed("a wrapped data key has the wrong length")
        return data_key

    @staticmethod
    def version_of(wrapped: str) -> str:
        return wrapped.partition(":")[0]

    @classmethod
    def parse(cls, raw: str, name: str = "GATEWAY_ENCRYPTION_KEYS") -> KeyRing:
        """`version:base64key,version:base64key` (newest first; keys of 32 random bytes)."""
        entries = [part.strip() for part in raw.split(",") if part.strip()]
        if not entries:
            raise KeyRingError(
                f"{name} is missing: set it to 'v1:<32 random bytes, base64>' "
                "(python -m gateway keys generate prints one)"
            )
        keys: list[tuple[str, bytes]] = []
        for entry in entries:
            version, sep, encoded = entry.partition(":")
            if not sep or not VERSION.match(version):
                raise KeyRingError(
                    f"{name}: each entry must be 'version:base64key' with a version of letters, "
                    "digits, '.', '_' or '-'"
                )
            try:
                padded = encoded + "=" * (-len(encoded) % 4)
                key = base64.b64decode(padded, altchars=b"-_", validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingError(f"{name}: key {version!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise KeyRingError(
                    f"{name}: key {version!r} must decode to {KEY_BYTES} bytes, not {len(key)}"
                )
            if version in {v for v, _ in keys}:
                raise KeyRingError(f"{name}: version {version!r} appears twice")
            keys.append((version, key))
        return cls(tuple(keys))

    def describe(self) -> str:
        """The ring as it goes back into configuration (for `keys generate`)."""
        return ",".join(
            f"{v}:{base64.urlsafe_b64encode(k).decode().rstrip('=')}" for v, k in self.keys
        )


def new_key_entry(version: str) -> str:
    return f"{version}:{base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip('=')}"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encrypt(data_key: bytes, plaintext: bytes, context: str) -> str:
    return _seal(data_key, plaintext, b"data|" + context.encode())


def decrypt(data_key: bytes, sealed: str, context: str) -> bytes:
    return _open(data_key, sealed, b"data|" + context.encode())


def _seal(key: bytes, plaintext: bytes, associated: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, associated)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def _open(key: bytes, sealed: str, associated: bytes) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(sealed)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError, binascii.Error):
        raise DecryptionFailed(
            "ciphertext does not decrypt here (altered, or moved from another owner)"
        ) from None


def versions_in_use(wrapped_keys: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for wrapped in wrapped_keys:
        version = KeyRing.version_of(wrapped)
        counts[version] = counts.get(version, 0) + 1
    return counts

"""Short-lived values the browser carries for us, sealed so that only this gateway reads them.

A sign-in that has not come back yet is kept in the browser, not in Redis (anyone may start
one: nothing they do before the callback may cost storage). AES-256-GCM under a key derived
(HKDF-SHA256) from GATEWAY_SECRET_KEY, one key per purpose, the purpose also bound as
associated data; the expiry is inside the sealed bytes, so a value kept past it, altered,
or carried to another purpose does not open.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class SealedBox:
    """Seals under `secret_key`; opens what it or any of `fallbacks` (the keys a rotation
    replaced, GATEWAY_SECRET_KEY_FALLBACKS) sealed, so a sign-in that started on a gateway
    not yet rolled over completes on one that is."""

    def __init__(self, secret_key: str, purpose: str, fallbacks: tuple[str, ...] = ()) -> None:
        self.purpose = purpose.encode()
        self._aeads = [self._aead_of(key) for key in (secret_key, *fallbacks)]
        self._aead = self._aeads[0]

    def _aead_of(self, secret_key: str) -> AESGCM:
        return AESGCM(
            HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"gw sealed|" + self.purpose
            ).derive(secret_key.encode())
        )

    def seal(self, value: Any, ttl_seconds: float) -> str:
        """`value` (JSON), readable by `open` for `ttl_seconds`; URL- and cookie-safe."""
        body = json.dumps({"exp": time.time() + ttl_seconds, "v": value}, separators=(",", ":"))
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, body.encode(), self.purpose)
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, token: str | None) -> Any | None:
        """The sealed value; None when absent, expired, altered or sealed for another purpose."""
        if not token or len(token) > 8192:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, binascii.Error):
            return None
        body = None
        for aead in self._aeads:
            try:
                body = json.loads(aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self.purpose))
                break
            except (InvalidTag, ValueError):
                continue
        if not isinstance(body, dict) or not isinstance(body.get("exp"), int | float):
            return None
        return body.get("v") if body["exp"] > time.time() else None

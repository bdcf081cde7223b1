"""Signed receipts: what a revocation or erasure deleted, verifiable later by anyone holding
the gateway's receipt key (HMAC-SHA256 over the canonical JSON of the receipt)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from functools import cached_property
from typing import Any

from gateway.crypto.secret_source import SecretSource, reveal


class ReceiptInvalid(ValueError):
    """The receipt was altered, or signed by another key."""


class ReceiptSigner:
    def __init__(self, secret_key: SecretSource) -> None:
        self._secret = secret_key

    @cached_property
    def _key(self) -> bytes:
        return hashlib.sha256(b"gateway receipts|" + reveal(self._secret).encode()).digest()

    def _mac(self, body: dict[str, Any]) -> str:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        digest = hmac.new(self._key, canonical, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        unsigned = {k: v for k, v in body.items() if k != "signature"}
        return {**unsigned, "signature": {"alg": "HS256", "value": self._mac(unsigned)}}

    def verify(self, receipt: dict[str, Any]) -> dict[str, Any]:
        signature = receipt.get("signature")
        if not isinstance(signature, dict) or signature.get("alg") != "HS256":
            raise ReceiptInvalid("the receipt carries no signature")
        unsigned = {k: v for k, v in receipt.items() if k != "signature"}
        if not hmac.compare_digest(str(signature.get("value", "")), self._mac(unsigned)):
            raise ReceiptInvalid("the receipt does not match its signature")
        return unsigned

"""Signed receipts: what a revocation or erasure deleted, checkable later by the person.

A receipt is its fields plus a `signature` member. New receipts are signed with the
deployment's Ed25519 key (crypto/receipt_keys.py): `signature.jws` is a compact JWS whose
payload is the canonical JSON of every other field, so anyone can check it with the
published keys (the JWKS at JWKS_PATH) and any JOSE library, and the fields beside it must
equal that payload. Older receipts carry an HMAC-SHA256 (`"alg": "HS256"`) keyed by the
gateway's lasting secret: only the operator can check those, and still can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from functools import cached_property
from typing import Any, cast

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.crypto.receipt_keys import ALGORITHM, KeyUnavailable, SigningKeys
from gateway.crypto.secret_source import SecretSource, reveal

log = logging.getLogger(__name__)

HMAC_ALGORITHM = "HS256"


class ReceiptInvalid(ValueError):
    """The receipt was altered, or signed by another key."""


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def unsigned_fields(receipt: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in receipt.items() if k != "signature"}


def verify_jws(receipt: dict[str, Any], public_keys: list[dict[str, str]]) -> dict[str, Any]:
    """The receipt's fields when its JWS verifies under one of `public_keys` (by kid) and
    its payload is exactly those fields; ReceiptInvalid otherwise. Needs no gateway."""
    signature = receipt.get("signature")
    token = signature.get("jws") if isinstance(signature, dict) else None
    if not isinstance(token, str):
        raise ReceiptInvalid("the receipt carries no signature")
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError):
        raise ReceiptInvalid("the signature is not a JWS") from None
    kid = header.get("kid")
    known = [k for k in public_keys if k.get("kid") == kid]
    if header.get("alg") != ALGORITHM or not known:
        raise ReceiptInvalid(f"signed by a key this gateway does not publish (kid {kid!r})")
    try:
        found = jws.deserialize_compact(
            token, KeySet.import_key_set({"keys": cast(Any, known)}), algorithms=[ALGORITHM]
        )
    except (JoseError, ValueError):
        raise ReceiptInvalid("the receipt does not match its signature") from None
    try:
        payload = json.loads(found.payload)
    except ValueError:
        raise ReceiptInvalid("the signed payload is not JSON") from None
    unsigned = unsigned_fields(receipt)
    if payload != unsigned:
        raise ReceiptInvalid("the receipt does not match its signature")
    return unsigned


class ReceiptSigner:
    def __init__(
        self, secret_key: SecretSource, keys: SigningKeys, *, jwks_url: str | None = None
    ) -> None:
        self._secret = secret_key
        self.keys = keys
        self.jwks_url = jwks_url  # said in each receipt, so the person knows where to look

    @cached_property
    def _key(self) -> bytes:
        return hashlib.sha256(b"gateway receipts|" + reveal(self._secret).encode()).digest()

    def _mac(self, body: dict[str, Any]) -> str:
        digest = hmac.new(self._key, canonical(body), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        """Ed25519 (a JWS anyone can check); HMAC only while no signing key can be stored."""
        unsigned = unsigned_fields(body)
        try:
            key = self.keys.signing_key()
        except KeyUnavailable:
            log.warning("receipt signed with HMAC: no Ed25519 receipt key could be stored now")
            return self.sign_hmac(unsigned)
        token = jws.serialize_compact(
            {"alg": ALGORITHM, "kid": key.kid, "typ": "receipt+jws"},
            canonical(unsigned),
            key.signing_key(),
            algorithms=[ALGORITHM],
        )
        signature = {"alg": ALGORITHM, "kid": key.kid, "jws": token}
        if self.jwks_url:
            signature["keys"] = self.jwks_url
        return {**unsigned, "signature": signature}

    def sign_hmac(self, body: dict[str, Any]) -> dict[str, Any]:
        """The old kind, kept for the fallback above and to test that old receipts verify."""
        unsigned = unsigned_fields(body)
        return {**unsigned, "signature": {"alg": HMAC_ALGORITHM, "value": self._mac(unsigned)}}

    def verify(self, receipt: dict[str, Any]) -> dict[str, Any]:
        """The receipt's fields if its signature holds (either kind); ReceiptInvalid if not."""
        signature = receipt.get("signature")
        alg = signature.get("alg") if isinstance(signature, dict) else None
        if alg == ALGORITHM:
            return verify_jws(receipt, self.keys.public_keys())
        if not isinstance(signature, dict) or alg != HMAC_ALGORITHM:
            raise ReceiptInvalid("the receipt carries no signature")
        unsigned = unsigned_fields(receipt)
        if not hmac.compare_digest(str(signature.get("value", "")), self._mac(unsigned)):
            raise ReceiptInvalid("the receipt does not match its signature")
        return unsigned

"""Ed25519 keys that sign receipts, and the public keys a person checks them with (a JWKS).

One signing key per deployment, shared by every process (storage/receipt_keys.py keeps it
in Redis, sealed). A new key can be made at any time (`flask --app gateway admin
rotate-receipt-key`); the older public keys stay published, so a receipt signed years ago
still verifies. The JWS algorithm is `Ed25519` (RFC 9864, the fully specified name of what
older libraries call `EdDSA` with the curve Ed25519).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

ALGORITHM = "Ed25519"
JWKS_PATH = "/.well-known/receipt-keys.json"


class KeyUnavailable(RuntimeError):
    """No signing key can be had now (Redis refuses to store the first one): the receipt is
    signed the old way (HMAC) instead, which the CLI still verifies."""


class KeySetInvalid(ValueError):
    """A JWKS that is not one (a file given to `verify-receipt --jwks`)."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class ReceiptKey:
    """One Ed25519 key pair and its key id (`kid`, in every JWS header it signs)."""

    kid: str
    private: bytes  # the 32-byte seed

    @classmethod
    def generate(cls, kid: str) -> ReceiptKey:
        return cls(kid, new_private_key())

    @property
    def public_x(self) -> str:
        public = Ed25519PrivateKey.from_private_bytes(self.private).public_key()
        return _b64(public.public_bytes_raw())

    def signing_key(self) -> OKPKey:
        return OKPKey.import_key(
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": self.public_x,
                "d": _b64(self.private),
                "kid": self.kid,
            }
        )

    def public_jwk(self) -> dict[str, str]:
        """What is published: the public half only, with its id and use."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.public_x,
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }


def new_private_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes_raw()


class SigningKeys(Protocol):
    """Where the signer finds its current key and the published public keys."""

    def signing_key(self) -> ReceiptKey: ...

    def public_keys(self) -> list[dict[str, str]]: ...

    def rotate(self) -> str: ...


def jwks(public_keys: list[dict[str, str]]) -> dict[str, Any]:
    return {"keys": public_keys}


def parse_jwks(text: str) -> list[dict[str, str]]:
    """The Ed25519 public keys of a JWKS document (`--jwks FILE`); KeySetInvalid otherwise."""
    try:
        document = json.loads(text)
    except ValueError:
        raise KeySetInvalid("the key set is not JSON") from None
    found = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(found, list) or not found:
        raise KeySetInvalid('the key set has no "keys" list') from None
    keys = []
    for entry in found:
        if not isinstance(entry, dict) or entry.get("kty") != "OKP" or "d" in entry:
            continue  # another kind of key, or a private one: never used to verify
        try:
            OKPKey.import_key(entry)
        except (JoseError, ValueError, TypeError):
            continue
        if entry.get("crv") == "Ed25519" and isinstance(entry.get("kid"), str):
            keys.append({k: v for k, v in entry.items() if isinstance(v, str)})
    if not keys:
        raise KeySetInvalid("the key set holds no Ed25519 public key with a kid")
    return keys


class PublishedKeys:
    """Public keys only (a JWKS file): verifies, never signs."""

    def __init__(self, public_keys: list[dict[str, str]]) -> None:
        self._keys = public_keys

    def signing_key(self) -> ReceiptKey:
        raise KeyUnavailable("a published key set holds no private key")

    def public_keys(self) -> list[dict[str, str]]:
        return list(self._keys)

    def rotate(self) -> str:
        raise KeyUnavailable("a published key set holds no private key")


class KeysInMemory:
    """A key set held by this process alone: tests, and another gateway in them."""

    def __init__(self, kid: str = "memory-1") -> None:
        self.keys = [ReceiptKey.generate(kid)]

    def rotate(self) -> str:
        self.keys.append(ReceiptKey.generate(f"memory-{len(self.keys) + 1}"))
        return self.keys[-1].kid

    def signing_key(self) -> ReceiptKey:
        return self.keys[-1]

    def public_keys(self) -> list[dict[str, str]]:
        return [key.public_jwk() for key in self.keys]

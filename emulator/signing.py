"""RS256 signing keys (one per provider, as each real provider has its own JWKS) and ID tokens.

A queued tamper makes the next ID token wrong in exactly one way, so a test can prove that
the relying party's check for that one property really runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

TAMPERED_ISSUER = "https://attacker.example"
TAMPERED_AUDIENCE = "someone-else.example"


def _new_key(label: str) -> RSAKey:
    kid = f"{label}-{secrets.token_hex(4)}"
    return RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True
    )


class Signer:
    """The keys of one running emulator: a key per provider and a stranger's key."""

    def __init__(self, providers: tuple[str, ...]) -> None:
        self._keys = {name: _new_key(name) for name in providers}
        # Same `kid` as a real key but another private key: a "signature" tamper.
        self._impostors = {
            name: RSAKey.generate_key(
                2048, parameters={"kid": str(key.kid), "alg": "RS256"}, private=True
            )
            for name, key in self._keys.items()
        }

    def jwks(self, provider: str) -> dict[str, Any]:
        return {"keys": [self._keys[provider].as_dict(private=False)]}

    def id_token(self, provider: str, claims: dict[str, Any], tamper: str | None = None) -> str:
        """Sign `claims` with `provider`'s key, broken in the way `tamper` names (if any)."""
        claims = dict(claims)
        key = self._keys[provider]
        if tamper == "iss":
            claims["iss"] = TAMPERED_ISSUER
        elif tamper == "aud":
            claims["aud"] = TAMPERED_AUDIENCE
        elif tamper == "expired":
            now = int(time.time())
            claims.update(iat=now - 7200, exp=now - 3600)
            if "nbf" in claims:
                claims["nbf"] = now - 7200
        elif tamper == "nonce":
            claims["nonce"] = "tampered-" + secrets.token_urlsafe(12)
        elif tamper == "alg-none":
            return _unsigned(claims)
        elif tamper == "signature":
            key = self._impostors[provider]
        header = {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}."


def at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6: the left half of SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return _b64(digest[: len(digest) // 2])


def b64url_json(value: dict[str, Any]) -> str:
    """Microsoft's `client_info`: base64url JSON without padding."""
    return _b64(json.dumps(value, separators=(",", ":")).encode())

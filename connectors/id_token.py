"""ID token validation shared by every provider (signature, alg, iss, aud, exp, nonce).

MSAL 1.39 no longer validates ID tokens and Authlib's defaults are too lax (120 s leeway),
so every connector goes through this one function with a 60 s leeway.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from connectors.errors import IdTokenInvalid
from connectors.http import get_json

LEEWAY_SECONDS = 60
ALLOWED_ALGORITHMS = ("RS256",)
# An unknown `kid` triggers a JWKS re-fetch (key rotation), bounded by a token bucket: up to
# JWKS_REFETCH_BURST re-fetches at once, then one per JWKS_REFETCH_SECONDS. A key published
# just after a fetch is still found at once; a flood of made-up kids costs the provider a
# few fetches, not one per token.
JWKS_REFETCH_SECONDS = 30
JWKS_REFETCH_BURST = 2


class JwksCache:
    """The provider's signing keys, fetched from its `jwks_uri` and re-fetched on an unknown kid."""

    def __init__(self, session: requests.Session, jwks_uri: str) -> None:
        self._session = session
        self._uri = jwks_uri
        self._keys: KeySet | None = None
        self._refetches = float(JWKS_REFETCH_BURST)
        self._counted_at = time.monotonic()
        self._lock = threading.Lock()

    def key_set(self, kid: str | None) -> KeySet:
        with self._lock:
            if self._keys is None or (not self._has(kid) and self._may_refetch()):
                try:
                    self._keys = KeySet.import_key_set(get_json(self._session, self._uri))  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError) as error:
                    raise IdTokenInvalid("the provider's signing keys are unreadable") from error
            if not self._has(kid):
                raise IdTokenInvalid("the ID token is signed with an unknown key")
            return self._keys

    def _may_refetch(self) -> bool:
        now = time.monotonic()
        earned = (now - self._counted_at) / JWKS_REFETCH_SECONDS
        self._refetches = min(float(JWKS_REFETCH_BURST), self._refetches + earned)
        self._counted_at = now
        if self._refetches < 1:
            return False
        self._refetches -= 1
        return True

    def _has(self, kid: str | None) -> bool:
        return self._keys is not None and any(key.kid == kid for key in self._keys.keys)


def unverified_header(raw: str) -> dict[str, Any]:
    """The JOSE header, read only to pick the algorithm and key before verification."""
    try:
        segment = raw.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, IndexError) as error:
        raise IdTokenInvalid("the ID token is malformed") from error
    if not isinstance(header, dict):
        raise IdTokenInvalid("the ID token is malformed")
    return header


def validate_id_token(
    raw: str,
    keys: JwksCache,
    *,
    audience: str,
    nonce: str,
    issuer_ok: Callable[[str, dict[str, Any]], bool],
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Return the claims of a valid ID token, or raise `IdTokenInvalid` saying which check failed.

    `issuer_ok(iss, claims)` lets a provider state its issuer rule (Google's two forms,
    Microsoft's per-tenant issuer) without loosening the check for the others.
    """
    if not isinstance(raw, str) or not raw:
        raise IdTokenInvalid("the provider returned no ID token")
    header = unverified_header(raw)
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise IdTokenInvalid(f"ID token algorithm {header.get('alg')!r} is not allowed")
    key_set = keys.key_set(header.get("kid"))
    try:
        token = jwt.decode(raw, key_set, algorithms=list(ALLOWED_ALGORITHMS))
    except BadSignatureError as error:
        raise IdTokenInvalid("the ID token signature is invalid") from error
    except (JoseError, ValueError) as error:
        raise IdTokenInvalid("the ID token is malformed") from error

    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=lambda: int(now()),
        leeway=LEEWAY_SECONDS,
        iss={"essential": True},
        sub={"essential": True},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as error:
        raise IdTokenInvalid("the ID token has expired") from error
    except (MissingClaimError, InvalidClaimError) as error:
        raise IdTokenInvalid(f"the ID token failed the {error.claim!r} check") from error
    except InvalidTokenError as error:
        raise IdTokenInvalid("the ID token is not valid yet") from error
    if not issuer_ok(str(claims["iss"]), claims):
        raise IdTokenInvalid("the ID token failed the 'iss' check")
    return claims

"""ID token checks, one at a time: each bad token names the check it failed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from connectors.errors import IdTokenInvalid
from connectors.id_token import LEEWAY_SECONDS, validate_id_token

ISSUER = "https://issuer.example"
AUDIENCE = "client-1"
NONCE = "n-0S6_WzA2Mj"
SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)


class PublishedKeys:
    """What a provider's JWKS endpoint would hand out: the public half of SIGNING_KEY."""

    def key_set(self, kid: str | None) -> KeySet:
        return KeySet.import_key_set({"keys": [SIGNING_KEY.as_dict(private=False)]})


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "sub": "1234567890",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "nonce": NONCE,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: RSAKey = SIGNING_KEY) -> str:
    return jwt.encode({"alg": "RS256", "kid": "k1"}, payload, key)


def check(raw: str) -> dict[str, Any]:
    return validate_id_token(
        raw,
        PublishedKeys(),  # type: ignore[arg-type]
        audience=AUDIENCE,
        nonce=NONCE,
        issuer_ok=lambda iss, _claims: iss == ISSUER,
    )


def test_a_good_token_gives_its_claims() -> None:
    assert check(sign(claims()))["sub"] == "1234567890"


@pytest.mark.parametrize(
    ("payload", "failed"),
    [
        (claims(iss="https://evil.example"), "'iss'"),
        (claims(aud="someone-else"), "'aud'"),
        (claims(nonce="replayed"), "'nonce'"),
        (claims(nonce=None), "'nonce'"),
        (claims(sub=None), "'sub'"),
        (claims(exp=int(time.time()) - LEEWAY_SECONDS - 5), "expired"),
    ],
)
def test_each_failed_check_is_named(payload: dict[str, Any], failed: str) -> None:
    with pytest.raises(IdTokenInvalid, match=failed):
        check(sign(payload))


def test_expiry_allows_at_most_a_minute_of_clock_skew() -> None:
    check(sign(claims(exp=int(time.time()) - LEEWAY_SECONDS + 5)))


def test_a_token_signed_by_another_key_is_refused() -> None:
    with pytest.raises(IdTokenInvalid, match="signature"):
        check(sign(claims(), OTHER_KEY))


def test_an_unsigned_token_is_refused() -> None:
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    body = sign(claims()).split(".")[1]
    with pytest.raises(IdTokenInvalid, match="'none' is not allowed"):
        check(f"{header}.{body}.")


@pytest.mark.parametrize("raw", ["", "not-a-jwt", "a.b.c", "%%%.%%%.%%%"])
def test_garbage_is_refused_cleanly(raw: str) -> None:
    with pytest.raises(IdTokenInvalid):
        check(raw)

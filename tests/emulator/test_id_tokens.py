"""ID tokens verify with joserfc against each provider's JWKS; each tamper really breaks one."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import pytest
import requests

from connectors.errors import IdTokenInvalid
from connectors.id_token import JwksCache, validate_id_token
from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

PROVIDERS = {
    # name: (authorize path, token path, jwks path, issuer suffix, account, callback)
    "google": (
        "/o/oauth2/v2/auth",
        "/token",
        "/oauth2/v3/certs",
        "",
        "alice@example.com",
        "google",
    ),
    "oidc": (
        "/generic/authorize",
        "/generic/token",
        "/generic/jwks",
        "/generic",
        "erin@oidc.example",
        "emulator",
    ),
    "microsoft": (
        "/organizations/oauth2/v2.0/authorize",
        "/organizations/oauth2/v2.0/token",
        "/organizations/discovery/v2.0/keys",
        "/11111111-1111-4111-8111-111111111111/v2.0",
        "carol@contoso.example",
        "microsoft",
    ),
}


def id_token_for(emu: Any, browser: Any, provider: str, nonce: str) -> str:
    authorize, token, _, _, account, callback = PROVIDERS[provider]
    redirect_uri = f"http://127.0.0.1:8000/auth/callback/{callback}"
    verifier, challenge = browser.pkce()
    emu.client.authorize_next(account)
    answer = browser.answer_of(
        browser.get(
            emu.url + authorize,
            params={
                "client_id": DEFAULT_CLIENT_ID,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "openid email profile",
                "state": "s",
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
    )
    response = browser.post(
        emu.url + token,
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id_token"])


def check(emu: Any, provider: str, raw: str, nonce: str) -> dict[str, Any]:
    session = requests.Session()
    session.verify = str(emu.ca_path)
    session.trust_env = False
    with session:
        keys = JwksCache(session, emu.url + PROVIDERS[provider][2])
        return validate_id_token(
            raw,
            keys,
            audience=DEFAULT_CLIENT_ID,
            nonce=nonce,
            issuer_ok=lambda iss, _c: iss == emu.url + PROVIDERS[provider][3],
        )


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_an_untampered_id_token_passes(emu: Any, browser: Any, provider: str) -> None:
    nonce = secrets.token_urlsafe(16)
    claims = check(emu, provider, id_token_for(emu, browser, provider, nonce), nonce)
    assert claims["aud"] == DEFAULT_CLIENT_ID


@pytest.mark.parametrize("tamper", ["iss", "aud", "expired", "nonce", "alg-none", "signature"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_tampered_id_token_fails_verification(
    emu: Any, browser: Any, provider: str, tamper: str
) -> None:
    nonce = secrets.token_urlsafe(16)
    emu.client.id_token_next(tamper)
    raw = id_token_for(emu, browser, provider, nonce)
    with pytest.raises(IdTokenInvalid):
        check(emu, provider, raw, nonce)
    # Only the next token is tampered.
    check(emu, provider, id_token_for(emu, browser, provider, nonce), nonce)


def test_google_id_token_claims(emu: Any, browser: Any) -> None:
    nonce = "n-" + hashlib.sha256(b"x").hexdigest()[:8]
    claims = check(emu, "google", id_token_for(emu, browser, "google", nonce), nonce)
    assert claims["azp"] == DEFAULT_CLIENT_ID
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Example"
    assert claims["sub"].isdigit()
    assert claims["exp"] > claims["iat"]
    assert "at_hash" in claims

"""The generic OIDC provider under /generic: a standard code flow without RFC 9207 `iss`."""

from __future__ import annotations

import secrets
from typing import Any

from authlib.integrations.requests_client import OAuth2Session

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

CALLBACK = "http://127.0.0.1:8000/auth/callback/emulator"


def test_authlib_code_flow_without_iss_on_the_redirect(emu: Any, browser: Any) -> None:
    meta = browser.json("/generic/.well-known/openid-configuration")
    assert meta["issuer"] == f"{emu.url}/generic"
    assert "authorization_response_iss_parameter_supported" not in meta
    verifier = secrets.token_urlsafe(64)
    with OAuth2Session(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        scope="openid email profile",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        verify=str(emu.ca_path),
        trust_env=False,
    ) as oauth:
        url, state = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce="n-1"
        )
        emu.client.authorize_next("erin@oidc.example")
        answer = browser.answer(url)
        assert set(answer) == {"code", "state"}
        assert answer["state"] == state
        token = oauth.fetch_token(
            meta["token_endpoint"], code=answer["code"], code_verifier=verifier
        )
        info = oauth.get(meta["userinfo_endpoint"]).json()
    assert info == {
        "sub": "erin-7d3f9a",
        "email": "erin@oidc.example",
        "email_verified": True,
        "name": "Erin Generic",
    }
    assert "refresh_token" not in token  # no offline_access asked
    assert emu.client.calls()["oidc.token"] == 1


def test_an_added_account_signs_in_on_its_own_provider_only(emu: Any, browser: Any) -> None:
    emu.client.add_account("alice@example.com", "Alice Elsewhere", "oidc")
    emails = [(a["provider"], a["email"]) for a in emu.client.accounts()]
    assert ("oidc", "alice@example.com") in emails
    assert ("google", "alice@example.com") in emails
    page = browser.page(
        browser.get(
            f"{emu.url}/generic/authorize",
            params={
                "client_id": DEFAULT_CLIENT_ID,
                "redirect_uri": CALLBACK,
                "response_type": "code",
                "scope": "openid",
                "state": "s",
            },
        ).text
    )
    offered = [i["value"] for i in page.inputs if i["name"] == "account"]
    assert offered == ["erin@oidc.example", "alice@example.com"]
    emu.client.reset()
    assert ("oidc", "alice@example.com") not in [
        (a["provider"], a["email"]) for a in emu.client.accounts()
    ]

"""T3 / RFC 9700 §2.1.1, §4.5 (R3), RFC 7636 §4.1-4.2: every authorization request carries a
transaction-specific S256 challenge of a fresh verifier, and a code is useless in any other
transaction. T4 / RFC 9700 §4.8 (R4): PKCE and `state` cannot be switched off or downgraded.

test_auth.py::test_a_pkce_verifier_mismatch_is_refused injects a code across two Google
transactions; here the same injection runs for Microsoft (MSAL) and the generic provider,
the challenge is recomputed from the verifier the gateway keeps sealed, and the
settings and the code are checked for any way to turn PKCE or `state` off.

Measured: 10⁴ sign-in starts (8,500 Google, 750 Microsoft, 750 generic): 100% S256,
challenge = BASE64URL(SHA256(verifier)), verifiers 86 (Authlib) and 43 (MSAL) characters,
0 repeated verifiers, challenges or states; states are 43 base64url characters (256 bits)."""

from __future__ import annotations

import ast
import base64
import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal.oauth2cli.oauth2
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from gateway.config import KNOWN_VARIABLES, ConfigError, Settings
from gateway.storage import keys
from tests.conftest import SignIn
from tests.security.support import GENERIC_ACCOUNT, GOOGLE_ACCOUNT, MICROSOFT_ACCOUNT

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = {"google": 8500, "microsoft": 750, "emulator": 750}  # 10⁴ in all
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1 unreserved characters


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@pytest.mark.parametrize("provider", list(SAMPLES))
def test_every_authorization_request_carries_a_fresh_s256_challenge(
    app: Flask, client: FlaskClient, redis_client: redis.Redis, provider: str
) -> None:
    """T3: 100% `code_challenge_method=S256`, challenge = B64URL(SHA256(verifier)), verifier
    43-128 unreserved characters, unique; 100% of URLs carry `state` (R4), and states never
    repeat (T2, ASVS 11.5.1)."""
    verifiers, challenges, states = set(), set(), set()
    pending = app.extensions["gateway"].signin.pending_flows  # the flow cookie's seal
    for _ in range(SAMPLES[provider]):
        location = client.get(f"/auth/login/{provider}").headers["Location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["code_challenge_method"] == "S256"
        assert query["state"] and query["nonce"]
        flow_cookie = client.get_cookie("gw_signin", domain="127.0.0.1")
        assert flow_cookie is not None
        (record,) = pending.open(flow_cookie.value)
        assert record["state"] == keys.digest(query["state"])
        verifier = record["flow"]["code_verifier"]
        assert VERIFIER.fullmatch(verifier), verifier
        assert query["code_challenge"] == s256(verifier)
        verifiers.add(verifier)
        challenges.add(query["code_challenge"])
        states.add(query["state"])
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["state"])  # T2: 256 bits, `secrets`
        client.delete_cookie("gw_signin", domain="127.0.0.1")  # one flow per cookie here
    assert len(verifiers) == len(challenges) == len(states) == SAMPLES[provider]
    assert redis_client.dbsize() == 0  # starting a sign-in stores nothing


@pytest.mark.parametrize(
    ("provider", "account"), [("microsoft", MICROSOFT_ACCOUNT), ("emulator", GENERIC_ACCOUNT)]
)
def test_a_code_injected_into_another_transaction_fails_at_the_token_endpoint(
    sign_in: SignIn, client: FlaskClient, emulator: Any, provider: str, account: str
) -> None:
    """T3: a code issued for transaction A's challenge, sent back with transaction B's state
    (so B's verifier is used) → the AS refuses it → nobody is signed in."""
    url_a, url_b = sign_in.start(provider), sign_in.start(provider)
    emulator.client.authorize_next(account)
    path, params_a = sign_in.at_provider(url_a)
    emulator.client.authorize_next(account)
    _, params_b = sign_in.at_provider(url_b)
    injected = sign_in.back_to_gateway(path, {**params_b, "code": params_a["code"]})
    assert injected.status_code == 400, injected.get_data(as_text=True)
    assert "invalid_grant" in injected.get_data(as_text=True)
    assert client.get("/v1/me").status_code == 401


def test_the_emulated_authorization_server_enforces_pkce(sign_in: SignIn, emulator: Any) -> None:
    """The precondition of the injection test: the mock AS refuses a code redeemed without
    its verifier (RFC 9700 §2.1.1 "PKCE alone only if AS support is ensured")."""
    url = sign_in.start("google")
    emulator.client.authorize_next(GOOGLE_ACCOUNT)
    _, params = sign_in.at_provider(url)
    metadata = sign_in.http.get(f"{emulator.url}/.well-known/openid-configuration", timeout=10)
    assert "S256" in metadata.json()["code_challenge_methods_supported"]
    answer = sign_in.http.post(
        metadata.json()["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": "http://127.0.0.1:8000/auth/callback/google",
        },
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "name",
    [
        "GATEWAY_PKCE",
        "GATEWAY_PKCE_METHOD",
        "GATEWAY_CODE_CHALLENGE_METHOD",
        "GATEWAY_GOOGLE_CODE_CHALLENGE_METHOD",
        "GATEWAY_STATE",
        "GATEWAY_DISABLE_STATE",
        "GATEWAY_OIDC_EXAMPLE_PKCE",
    ],
)
def test_no_setting_can_switch_pkce_or_state_off(make_env: Any, name: str) -> None:
    """T4 config test: no known setting names PKCE or state, and an unknown one is an error
    at start-up rather than silently ignored."""
    assert not [v for v in KNOWN_VARIABLES if re.search("PKCE|CHALLENGE|STATE", v)]
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(make_env(**{name: "plain"}))


def test_no_code_can_choose_plain_or_drop_the_challenge() -> None:
    """T4 static rule: in gateway/ and connectors/ (the emulator aside, it is the AS), every
    `code_challenge_method` given is the literal "S256", and "plain" never appears as a
    string constant; MSAL (Microsoft) always sends S256 and has no switch for it."""
    methods, plains = [], []
    for package in ("gateway", "connectors"):
        for path in (ROOT / package).rglob("*.py"):
            if "emulator" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.keyword) and node.arg == "code_challenge_method":
                    methods.append((path.name, ast.literal_eval(node.value)))
                if isinstance(node, ast.Constant) and node.value == "plain":
                    plains.append(f"{path.name}:{node.lineno}")
    assert methods and {m for _, m in methods} == {"S256"}, methods
    assert plains == []
    pkce = msal.oauth2cli.oauth2._generate_pkce_code_verifier()
    assert pkce["transformation"] == "S256"
    assert pkce["code_challenge"].decode() == s256(pkce["code_verifier"])

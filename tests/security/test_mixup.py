"""T5 / RFC 9700 §2.1, §4.4 (R5), RFC 9207 §2.4, ASVS 5.0 10.2.2: mix-up between the
gateway's authorization servers. Each transaction remembers its provider; the callback path
must be that provider's, and an RFC 9207 `iss` must be its issuer exactly (absent only if
the provider does not promise to send it).

test_auth.py checks one Google response on the generic provider's path and one Google
`iss=https://evil.example`. Here: every ordered pair of providers (a transaction finished
on another provider's path, by query and by form_post), a foreign `iss` for each provider
including another of our own providers' issuers, and a missing `iss` where the metadata
says `authorization_response_iss_parameter_supported`. Bar: 100% refused, 0 token calls to
any AS, nobody signed in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SignIn
from tests.security.support import GENERIC_ACCOUNT, GOOGLE_ACCOUNT, MICROSOFT_ACCOUNT

ACCOUNTS = {"google": GOOGLE_ACCOUNT, "microsoft": MICROSOFT_ACCOUNT, "emulator": GENERIC_ACCOUNT}
TOKEN_ENDPOINTS = ("google.token", "microsoft.token", "oidc.token")
PAIRS = [(a, b) for a in ACCOUNTS for b in ACCOUNTS if a != b]


def token_calls(emulator: Any) -> int:
    calls = emulator.client.calls()
    return sum(calls.get(name, 0) for name in TOKEN_ENDPOINTS)


def answer_for(sign_in: SignIn, provider: str) -> dict[str, str]:
    url = sign_in.start(provider)
    sign_in.emulator.client.authorize_next(ACCOUNTS[provider])
    return sign_in.at_provider(url)[1]


def deliver(sign_in: SignIn, path_provider: str, params: dict[str, str], by: str) -> Any:
    path = f"/auth/callback/{path_provider}"
    return sign_in.back_to_gateway(f"POST {path}" if by == "form_post" else path, params)


def assert_refused(sign_in: SignIn, answer: Any, code: str | None = None) -> None:
    body = answer.get_data(as_text=True)
    assert 400 <= answer.status_code < 500, body
    if code:
        assert f"<code>{code}</code>" in body, body
    assert token_calls(sign_in.emulator) == 0
    assert sign_in.client.get("/v1/me").status_code == 401


@pytest.mark.parametrize("by", ["query", "form_post"])
@pytest.mark.parametrize(("started_at", "returned_to"), PAIRS)
def test_a_transaction_finished_on_another_providers_callback_is_refused(
    sign_in: SignIn, started_at: str, returned_to: str, by: str
) -> None:
    """T5 (b): "a Google transaction completed at /cb/microsoft" and every other pair."""
    params = answer_for(sign_in, started_at)
    assert_refused(sign_in, deliver(sign_in, returned_to, params, by), "invalid_state")


FOREIGN_ISSUERS = ["https://evil", "https://evil.example", "", "{own}/", "{own}x", "{other}"]


@pytest.mark.parametrize("issuer", FOREIGN_ISSUERS)
@pytest.mark.parametrize("provider", ["google", "emulator"])
def test_a_foreign_iss_on_the_callback_is_refused(
    sign_in: SignIn, emulator: Any, provider: str, issuer: str
) -> None:
    """T5 (c): `iss` present → equal to the expected issuer by simple string comparison
    (RFC 9207 §2.4): a trailing slash, a suffix or another of our providers is refused."""
    own = emulator.url if provider == "google" else f"{emulator.url}/generic"
    other = f"{emulator.url}/generic" if provider == "google" else emulator.url
    params = answer_for(sign_in, provider)
    assert params.get("iss", own) == own
    params["iss"] = issuer.format(own=own, other=other)
    assert_refused(sign_in, deliver(sign_in, provider, params, "query"), "callback_rejected")


def test_a_missing_iss_is_refused_when_the_provider_promises_it(
    sign_in: SignIn, emulator: Any
) -> None:
    """T5 (c): the Google side's metadata says `authorization_response_iss_parameter_supported`,
    so a response without `iss` is refused (RFC 9207 §2.4)."""
    metadata = sign_in.http.get(f"{emulator.url}/.well-known/openid-configuration", timeout=10)
    assert metadata.json()["authorization_response_iss_parameter_supported"] is True
    params = answer_for(sign_in, "google")
    del params["iss"]
    assert_refused(sign_in, deliver(sign_in, "google", params, "query"), "callback_rejected")


def test_a_missing_iss_is_accepted_when_the_provider_does_not_promise_it(
    sign_in: SignIn, emulator: Any
) -> None:
    """The other half of RFC 9207 §2.4: without the metadata flag, no `iss` is normal (the
    generic provider here, Microsoft Entra in production)."""
    params = answer_for(sign_in, "emulator")
    assert "iss" not in params
    assert deliver(sign_in, "emulator", params, "query").status_code == 303


@pytest.mark.parametrize("issuer", ["https://evil", "{google}"])
def test_a_foreign_iss_on_a_microsoft_form_post_is_refused(
    sign_in: SignIn, emulator: Any, issuer: str
) -> None:
    """T5 (c) for Microsoft: Entra sends no `iss` today, but if one arrives it must be a
    Microsoft issuer (`<authority>/<tenant>/v2.0`), never another AS's."""
    params = answer_for(sign_in, "microsoft")
    params["iss"] = issuer.format(google=emulator.url)
    assert_refused(sign_in, deliver(sign_in, "microsoft", params, "form_post"))


CONTOSO = "11111111-1111-4111-8111-111111111111"


@pytest.mark.parametrize(
    ("tenant", "accepted"), [(CONTOSO, True), ("22222222-2222-4222-8222-222222222222", False)]
)
def test_a_microsoft_iss_must_name_the_tenant_of_the_id_token(
    app: Any, sign_in: SignIn, tenant: str, accepted: bool
) -> None:
    """RFC 9207 with Entra's per-tenant issuer (SECURITY §2): `<authority>/<tid>/v2.0` with
    the ID token's own `tid` is accepted; another tenant's issuer is refused."""
    microsoft = app.extensions["gateway"].signin.connectors["microsoft"]
    params = answer_for(sign_in, "microsoft")
    params["iss"] = microsoft.issuer_for(tenant)
    answer = deliver(sign_in, "microsoft", params, "form_post")
    if accepted:
        assert answer.status_code == 303, answer.get_data(as_text=True)
    else:
        assert answer.status_code == 400
        assert "<code>callback_rejected</code>" in answer.get_data(as_text=True)
        assert sign_in.client.get("/v1/me").status_code == 401

"""T12 / ASVS 5.0 6.8.1, 10.5.2 (nOAuth, Descope 2023): a user is (provider, subject), never
an e-mail address and never a subject alone.

test_auth.py::test_accounts_are_never_joined_by_email covers one pair (Google, then the
generic provider with the same verified e-mail). Here:
- the *same* `sub` value issued by two providers (an IdP can choose any sub; a second IdP,
  or one under an attacker's control, can mint a victim's sub) gives two accounts;
- a Microsoft account whose (mutable, unverified) `email` claim is a Google user's address
  gets an account of its own, and the address is not kept as its e-mail;
- none of the three provider pairs links automatically; linking needs the signed-in user.

The subject is rewritten after the real ID-token check (which still runs in full), at the
connectors' one call to it, so everything around it is the real code path."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

import connectors.microsoft
import connectors.oidc
from connectors.id_token import validate_id_token
from tests.conftest import SignIn
from tests.security.support import GENERIC_ACCOUNT, GOOGLE_ACCOUNT, MICROSOFT_ACCOUNT

ACCOUNTS = {"google": GOOGLE_ACCOUNT, "microsoft": MICROSOFT_ACCOUNT, "emulator": GENERIC_ACCOUNT}
SHARED_SUB = "110169484474386276334"  # Alice's Google subject


@pytest.fixture
def same_subject(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every provider's ID token names SHARED_SUB (Microsoft: as its `oid`)."""

    def rewritten(raw: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        claims = dict(validate_id_token(raw, *args, **kwargs))
        claims["sub"] = SHARED_SUB
        if "oid" in claims:
            claims["oid"] = SHARED_SUB
        return claims

    monkeypatch.setattr(connectors.oidc, "validate_id_token", rewritten)
    monkeypatch.setattr(connectors.microsoft, "validate_id_token", rewritten)


def user_after_sign_in(browser: SignIn, provider: str, account: str) -> dict[str, Any]:
    done = browser.complete(provider, account)
    assert done.status_code == 303, done.get_data(as_text=True)
    me = browser.client.get("/v1/me")
    assert me.status_code == 200
    return dict(me.get_json())


@pytest.mark.usefixtures("same_subject")
def test_the_same_subject_at_three_providers_is_three_users(another_browser: Any) -> None:
    """T12: "same sub at Google and Microsoft → two distinct accounts" (and the generic
    provider: a third), each with exactly one identity."""
    users = {p: user_after_sign_in(another_browser(), p, a) for p, a in ACCOUNTS.items()}
    assert len({u["id"] for u in users.values()}) == 3
    for provider, user in users.items():
        assert [i["provider"] for i in user["identities"]] == [provider]


def test_a_microsoft_email_claim_never_reaches_a_google_users_account(
    sign_in: SignIn, client: FlaskClient, another_browser: Any, emulator: Any
) -> None:
    """nOAuth: a Microsoft account (another tenant admin can set any `email`) claiming
    Alice's address signs in as a new user, and the address is not stored as its e-mail."""
    alice = user_after_sign_in(sign_in, "google", GOOGLE_ACCOUNT)
    emulator.client.add_account(
        GOOGLE_ACCOUNT, "Not Alice", "microsoft", tenant="11111111-1111-4111-8111-111111111111"
    )
    impostor = user_after_sign_in(another_browser(), "microsoft", GOOGLE_ACCOUNT)
    assert impostor["id"] != alice["id"]
    assert impostor["email"] is None
    assert [i["provider"] for i in impostor["identities"]] == ["microsoft"]
    again = client.get("/v1/me").get_json()
    assert [i["provider"] for i in again["identities"]] == ["google"]


@pytest.mark.parametrize(
    ("first", "second"),
    [("google", "microsoft"), ("microsoft", "emulator"), ("emulator", "google")],
)
def test_signing_in_with_a_second_provider_never_links_by_itself(
    sign_in: SignIn, client: FlaskClient, emulator: Any, first: str, second: str
) -> None:
    """ASVS 6.8.1: one browser, one person, two providers with the same e-mail: without the
    explicit, CSRF-protected link step the second sign-in is a second user."""
    shared = "pat@example.com"
    tenant = "11111111-1111-4111-8111-111111111111"
    for provider in (first, second):
        kind = "oidc" if provider == "emulator" else provider
        emulator.client.add_account(
            shared, "Pat", kind, tenant=tenant if provider == "microsoft" else None
        )
    one = user_after_sign_in(sign_in, first, shared)
    two = user_after_sign_in(sign_in, second, shared)
    assert one["id"] != two["id"]
    assert len(two["identities"]) == 1

"""The Google side with real Authlib over HTTPS: code flow, PKCE, codes, consent, revoke."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

CALLBACK = "http://127.0.0.1:8000/auth/callback/google"
FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
ALICE = "alice@example.com"


@pytest.fixture
def meta(emu: Any, browser: Any) -> dict[str, Any]:
    return browser.json("/.well-known/openid-configuration")


@pytest.fixture
def oauth(emu: Any) -> Iterator[OAuth2Session]:
    session = OAuth2Session(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        scope=f"openid email profile {FREEBUSY}",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        verify=str(emu.ca_path),
        trust_env=False,
    )
    yield session
    session.close()


def begin(oauth: OAuth2Session, meta: dict[str, Any], **extra: str) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    url, _ = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce="n-123", **extra
    )
    return url, verifier


def test_discovery_names_the_emulator_endpoints(emu: Any, meta: dict[str, Any]) -> None:
    assert meta["issuer"] == emu.url
    assert meta["authorization_endpoint"] == f"{emu.url}/o/oauth2/v2/auth"
    assert meta["token_endpoint"] == f"{emu.url}/token"
    assert meta["userinfo_endpoint"] == f"{emu.url}/v1/userinfo"
    assert meta["jwks_uri"] == f"{emu.url}/oauth2/v3/certs"
    assert meta["revocation_endpoint"] == f"{emu.url}/revoke"
    assert meta["code_challenge_methods_supported"] == ["plain", "S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_full_code_flow_with_pkce(emu: Any, browser: Any, oauth: OAuth2Session, meta: Any) -> None:
    url, verifier = begin(oauth, meta, access_type="offline")
    emu.client.authorize_next(ALICE)
    answer = browser.answer(url)
    assert answer["iss"] == emu.url
    assert set(answer) >= {"code", "state", "scope", "iss"}

    token = oauth.fetch_token(meta["token_endpoint"], code=answer["code"], code_verifier=verifier)
    assert token["token_type"] == "Bearer"
    assert token["refresh_token"]
    assert FREEBUSY in token["scope"].split()
    assert "https://www.googleapis.com/auth/userinfo.email" in token["scope"].split()

    me = browser.get(
        meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}
    ).json()
    assert me["email"] == ALICE
    assert me["email_verified"] is True
    assert me["sub"] == "110169484474386276334"

    refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] == token["refresh_token"]  # Authlib keeps the old one
    assert emu.client.calls()["google.token"] == 2


def test_no_refresh_token_without_offline_access(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, verifier = begin(oauth, meta)
    emu.client.authorize_next(ALICE)
    code = browser.answer(url)["code"]
    token = oauth.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
    assert "refresh_token" not in token


def test_client_secret_post_works_and_a_wrong_secret_does_not(
    emu: Any, browser: Any, meta: Any
) -> None:
    verifier, challenge = browser.pkce()
    emu.client.authorize_next(ALICE)
    code = browser.answer(
        meta["authorization_endpoint"]
        + f"?client_id={DEFAULT_CLIENT_ID}&redirect_uri={CALLBACK}&response_type=code"
        f"&scope=openid&state=s1&code_challenge={challenge}&code_challenge_method=S256"
    )["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        "client_id": DEFAULT_CLIENT_ID,
    }
    wrong = browser.post(meta["token_endpoint"], data={**form, "client_secret": "nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "invalid_client", "error_description": "Unauthorized"}
    right = browser.post(
        meta["token_endpoint"], data={**form, "client_secret": DEFAULT_CLIENT_SECRET}
    )
    assert right.status_code == 200, right.text
    assert right.json()["scope"] == "openid"


def test_a_pkce_mismatch_is_invalid_grant(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, _verifier = begin(oauth, meta)
    emu.client.authorize_next(ALICE)
    code = browser.answer(url)["code"]
    with pytest.raises(OAuthError) as refused:
        oauth.fetch_token(
            meta["token_endpoint"], code=code, code_verifier=secrets.token_urlsafe(64)
        )
    assert refused.value.error == "invalid_grant"


def test_a_plain_verifier_does_not_pass_an_s256_challenge(
    emu: Any, browser: Any, meta: Any
) -> None:
    _verifier, challenge = browser.pkce()
    emu.client.authorize_next(ALICE)
    code = browser.answer(
        meta["authorization_endpoint"]
        + f"?client_id={DEFAULT_CLIENT_ID}&redirect_uri={CALLBACK}&response_type=code"
        f"&scope=openid&state=s1&code_challenge={challenge}&code_challenge_method=S256"
    )["code"]
    answer = browser.post(
        meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": challenge,
        },  # the challenge itself, as if method were plain
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_a_reused_code_is_refused_and_revokes_its_tokens(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, verifier = begin(oauth, meta)
    emu.client.authorize_next(ALICE)
    code = browser.answer(url)["code"]
    first = oauth.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert browser.get(meta["userinfo_endpoint"], headers=bearer).status_code == 200

    with pytest.raises(OAuthError) as refused:
        oauth.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
    assert refused.value.error == "invalid_grant"
    assert browser.get(meta["userinfo_endpoint"], headers=bearer).status_code == 401


def test_a_different_redirect_uri_at_the_token_endpoint_is_refused(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, verifier = begin(oauth, meta)
    emu.client.authorize_next(ALICE)
    code = browser.answer(url)["code"]
    answer = browser.post(
        meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": "http://localhost:8000/auth/callback/google",
        },
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "redirect_uri_mismatch"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uri": "http://127.0.0.1:8000/auth/callback/google/"}, "redirect_uri_mismatch"),
        ({"redirect_uri": "https://evil.example/cb"}, "redirect_uri_mismatch"),
        ({"client_id": "stranger"}, "invalid_client"),
    ],
)
def test_a_bad_client_or_redirect_uri_gets_an_error_page_not_a_redirect(
    emu: Any, browser: Any, meta: Any, change: dict[str, str], error: str
) -> None:
    params = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid",
        "state": "s",
        **change,
    }
    emu.client.authorize_next(ALICE)
    page = browser.get(meta["authorization_endpoint"], params=params)
    assert page.status_code in (400, 401)
    assert "Location" not in page.headers
    assert error in page.text


def test_missing_openid_is_sent_back_as_invalid_scope(emu: Any, browser: Any, meta: Any) -> None:
    params = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": FREEBUSY,
        "state": "s",
    }
    answer = browser.answer_of(browser.get(meta["authorization_endpoint"], params=params))
    assert answer["error"] == "invalid_scope"
    assert answer["state"] == "s"


def test_granular_consent_on_the_page(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, verifier = begin(oauth, meta)
    page = browser.get(url)
    assert page.status_code == 200
    form = browser.page(page.text)
    accounts = [i["value"] for i in form.inputs if i["name"] == "account"]
    assert accounts == ["alice@example.com", "bob@example.com"]
    boxes = [i for i in form.inputs if i["name"] == "scope"]
    assert [b["value"] for b in boxes] == [FREEBUSY]
    assert all("checked" in b for b in boxes)
    assert {i.get("id") for i in form.inputs} >= {"allow", "deny"}

    fields = form.fields()
    fields.update(account="bob@example.com", decision="allow")  # scope box left unticked
    answer = browser.answer_of(browser.post(form.action, data=fields))
    token = oauth.fetch_token(meta["token_endpoint"], code=answer["code"], code_verifier=verifier)
    assert FREEBUSY not in token["scope"].split()
    assert "openid" in token["scope"].split()


def test_cancel_on_the_page_is_access_denied(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, _ = begin(oauth, meta, state="st-1")
    form = browser.page(browser.get(url).text)
    fields = {**form.fields(), "decision": "deny"}
    answer = browser.answer_of(browser.post(form.action, data=fields))
    assert answer == {
        "error": "access_denied",
        "error_description": "The user cancelled.",
        "state": "st-1",
        "iss": emu.url,
    }


def test_a_queued_grant_narrows_and_include_granted_scopes_unions(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, _verifier = begin(oauth, meta)
    emu.client.authorize_next(ALICE, grant=[])
    answer = browser.answer(url)
    assert FREEBUSY not in answer["scope"]

    emu.client.authorize_next(ALICE, grant=[FREEBUSY])
    calendar_only = OAuth2Session(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        scope=f"openid {FREEBUSY}",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        verify=str(emu.ca_path),
        trust_env=False,
    )
    with calendar_only:
        url2, verifier2 = begin(calendar_only, meta, include_granted_scopes="true")
        code = browser.answer(url2)["code"]
        token = calendar_only.fetch_token(
            meta["token_endpoint"], code=code, code_verifier=verifier2
        )
    granted = set(token["scope"].split())
    assert {FREEBUSY, "openid", "https://www.googleapis.com/auth/userinfo.email"} <= granted


def test_denial_queued_is_access_denied(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, _ = begin(oauth, meta)
    emu.client.authorize_next(ALICE, deny=True)
    assert browser.answer(url)["error"] == "access_denied"


def test_revoking_the_access_token_kills_the_refresh_token(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, verifier = begin(oauth, meta, access_type="offline")
    emu.client.authorize_next(ALICE)
    code = browser.answer(url)["code"]
    token = oauth.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)

    revoked = browser.post(meta["revocation_endpoint"], data={"token": token["access_token"]})
    assert revoked.status_code == 200
    again = browser.post(meta["revocation_endpoint"], params={"token": token["access_token"]})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"
    with pytest.raises(OAuthError) as refused:
        oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert refused.value.description == "Token has been expired or revoked."


def test_a_grant_revoked_at_the_provider_fails_the_next_refresh(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, verifier = begin(oauth, meta, access_type="offline")
    emu.client.authorize_next(ALICE)
    code = browser.answer(url)["code"]
    token = oauth.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
    assert emu.client.revoke_grant(ALICE, DEFAULT_CLIENT_ID) == 2
    with pytest.raises(OAuthError) as refused:
        oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_a_refresh_may_narrow_but_not_widen_scopes(
    emu: Any, browser: Any, oauth: OAuth2Session, meta: Any
) -> None:
    url, verifier = begin(oauth, meta, access_type="offline")
    emu.client.authorize_next(ALICE, grant=[])
    code = browser.answer(url)["code"]
    token = oauth.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token["refresh_token"],
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    narrow = browser.post(meta["token_endpoint"], data={**form, "scope": "openid"})
    assert narrow.status_code == 200
    assert narrow.json()["scope"] == "openid"
    assert "refresh_token" not in narrow.json()  # Google does not rotate
    wide = browser.post(meta["token_endpoint"], data={**form, "scope": FREEBUSY})
    assert wide.status_code == 400
    assert wide.json()["error"] == "invalid_scope"

"""The Microsoft side with a real MSAL ConfidentialClientApplication over HTTPS."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

CALLBACK = "http://127.0.0.1:8000/auth/callback/microsoft"
CONTOSO = "11111111-1111-4111-8111-111111111111"
CONSUMERS = "9188040d-6c67-4c5b-b112-36a304b66dad"
CAROL = "carol@contoso.example"


@pytest.fixture
def http(emu: Any) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(emu.ca_path)
    session.trust_env = False
    yield session
    session.close()


def app_for(emu: Any, http: requests.Session, tenant: str = "organizations") -> Any:
    return msal.ConfidentialClientApplication(
        DEFAULT_CLIENT_ID,
        client_credential=DEFAULT_CLIENT_SECRET,
        authority=f"{emu.url}/{tenant}",
        instance_discovery=False,
        http_client=http,
    )


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def sign_in(emu: Any, browser: Any, app: Any, account: str = CAROL) -> dict[str, Any]:
    flow = app.initiate_auth_code_flow(
        ["Calendars.ReadBasic"], redirect_uri=CALLBACK, response_mode="form_post"
    )
    emu.client.authorize_next(account)
    answer = browser.answer(flow["auth_uri"])
    assert set(answer) == {"code", "state", "client_info", "session_state"}
    return app.acquire_token_by_auth_code_flow(flow, answer)  # type: ignore[no-any-return]


def test_discovery_per_tenant(emu: Any, browser: Any) -> None:
    doc = browser.json(f"/{CONTOSO}/v2.0/.well-known/openid-configuration")
    assert doc["issuer"] == f"{emu.url}/{CONTOSO}/v2.0"
    assert doc["token_endpoint"] == f"{emu.url}/{CONTOSO}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"{emu.url}/{CONTOSO}/discovery/v2.0/keys"
    common = browser.json("/common/v2.0/.well-known/openid-configuration")
    assert common["issuer"] == f"{emu.url}/{{tenantid}}/v2.0"
    unknown = browser.get(f"{emu.url}/nowhere/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400
    assert unknown.json()["error_codes"] == [90002]


def test_msal_code_flow_then_refreshes_rotate_the_refresh_token(
    emu: Any, browser: Any, http: requests.Session
) -> None:
    app = app_for(emu, http)
    result = sign_in(emu, browser, app)
    assert "error" not in result, result
    assert set(result["scope"].split()) == {"Calendars.ReadBasic", "openid", "profile"}
    claims = result["id_token_claims"]
    assert claims["iss"] == f"{emu.url}/{CONTOSO}/v2.0"
    assert claims["tid"] == CONTOSO
    assert claims["aud"] == DEFAULT_CLIENT_ID
    assert claims["preferred_username"] == CAROL
    assert claims["nbf"] <= claims["iat"] < claims["exp"]

    account = app.get_accounts()[0]
    assert account["home_account_id"] == f"{claims['oid']}.{CONTOSO}"
    seen = {result["refresh_token"]}
    for _ in range(2):
        again = app.acquire_token_silent(
            ["Calendars.ReadBasic"], account=account, force_refresh=True
        )
        assert again is not None and "error" not in again, again
        assert again["token_source"] == "identity_provider"
        seen.add(again["refresh_token"])
    assert len(seen) == 3  # a new refresh token on every refresh
    assert emu.client.calls()["microsoft.token"] == 3


def test_a_tenant_authority_lists_only_its_accounts(
    emu: Any, browser: Any, http: requests.Session
) -> None:
    app = app_for(emu, http, CONTOSO)
    flow = app.initiate_auth_code_flow(
        ["User.Read"], redirect_uri=CALLBACK, response_mode="form_post"
    )
    page = browser.page(browser.get(flow["auth_uri"]).text)
    offered = [i["value"] for i in page.inputs if i["name"] == "account"]
    assert offered == ["carol@contoso.example", "dave@contoso.example"]

    fields = {**page.fields(), "account": "dave@contoso.example", "decision": "allow"}
    answer = browser.answer_of(browser.post(page.action, data=fields))
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert result["id_token_claims"]["preferred_username"] == "dave@contoso.example"


def test_consumers_and_organizations_split_accounts(
    emu: Any, browser: Any, http: requests.Session
) -> None:
    result = sign_in(emu, browser, app_for(emu, http, "consumers"), "frank@outlook.example")
    assert result["id_token_claims"]["tid"] == CONSUMERS
    flow = app_for(emu, http).initiate_auth_code_flow(
        ["User.Read"], redirect_uri=CALLBACK, response_mode="form_post"
    )
    emu.client.authorize_next("frank@outlook.example")
    refused = browser.get(flow["auth_uri"])
    assert refused.status_code == 400
    assert "account_not_available" in refused.text


def test_query_mode_redirects_with_client_info(
    emu: Any, browser: Any, http: requests.Session
) -> None:
    app = app_for(emu, http)
    with pytest.warns(UserWarning, match="form_post"):  # MSAL 1.39 nudges to form_post
        flow = app.initiate_auth_code_flow(
            ["User.Read"], redirect_uri=CALLBACK, response_mode="query"
        )
    emu.client.authorize_next(CAROL)
    response = browser.get(flow["auth_uri"])
    assert response.status_code == 302
    answer = browser.answer_of(response)
    info = json.loads(base64.urlsafe_b64decode(answer["client_info"] + "=="))
    assert info["utid"] == CONTOSO
    assert "iss" not in answer


def test_errors_come_in_the_aadsts_envelope(emu: Any, browser: Any, http: requests.Session) -> None:
    app = app_for(emu, http)
    flow = app.initiate_auth_code_flow(
        ["User.Read"], redirect_uri=CALLBACK, response_mode="form_post"
    )
    emu.client.authorize_next(CAROL)
    answer = browser.answer(flow["auth_uri"])
    assert "error" not in app.acquire_token_by_auth_code_flow(dict(flow), answer)
    replay = browser.post(
        f"{emu.url}/organizations/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": CALLBACK,
            "code_verifier": flow["code_verifier"],
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )
    assert replay.status_code == 400
    body = replay.json()
    assert body["error"] == "invalid_grant"
    assert body["error_codes"] == [54005]
    assert body["error_description"].startswith("AADSTS54005: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


def test_the_nonce_is_echoed_as_received(emu: Any, browser: Any, http: requests.Session) -> None:
    app = app_for(emu, http)
    flow = app.initiate_auth_code_flow(
        ["User.Read"], redirect_uri=CALLBACK, response_mode="form_post"
    )
    emu.client.authorize_next(CAROL)
    sent_nonce = dict(p.split("=", 1) for p in flow["auth_uri"].split("?", 1)[1].split("&"))[
        "nonce"
    ]
    result = app.acquire_token_by_auth_code_flow(flow, browser.answer(flow["auth_uri"]))
    assert claims_of(result["id_token"])["nonce"] == sent_nonce

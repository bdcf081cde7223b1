"""Sign-in end to end: the gateway's routes, real Authlib and MSAL, the emulator over HTTPS."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway.storage import keys

# The sign-in, free/busy and revocation suites hold on a single server and on a cluster.
pytestmark = pytest.mark.redis_deployments

GOOGLE_ACCOUNT = "alice@example.com"
MICROSOFT_ACCOUNT = "carol@contoso.example"
OTHER_TENANT_ACCOUNT = "mallory@fabrikam.example"
GENERIC_ACCOUNT = "erin@oidc.example"


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/account").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def me(client: FlaskClient) -> Any:
    return client.get("/v1/me")


def assert_refused(response: Any, status: int, code: str, client: FlaskClient) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert f"<code>{code}</code>" in page
    assert "Traceback" not in page
    assert me(client).status_code == 401


@pytest.mark.parametrize(
    ("provider", "account", "name"),
    [
        ("google", GOOGLE_ACCOUNT, "Alice Example"),
        ("microsoft", MICROSOFT_ACCOUNT, None),
        ("emulator", GENERIC_ACCOUNT, None),
    ],
)
def test_sign_in_then_me_then_sign_out(
    sign_in: Any, client: FlaskClient, provider: str, account: str, name: str | None
) -> None:
    done = sign_in.complete(provider, account, next_path="/account")
    assert done.status_code == 303
    assert done.headers["Location"] == "/account"

    answer = me(client)
    assert answer.status_code == 200
    body = answer.get_json()
    assert [i["provider"] for i in body["identities"]] == [provider]
    assert body["name"]
    if name:
        assert body["name"] == name
    if provider != "microsoft":  # Microsoft's e-mail claim is unverified: never trusted
        assert body["email"] == account
    assert "subject" not in body["identities"][0]

    out = client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert out.status_code == 303
    unauthenticated = me(client)
    assert unauthenticated.status_code == 401
    assert unauthenticated.get_json() == {"error": "unauthorized", "message": "Sign in first."}


def test_signing_in_again_finds_the_same_user(sign_in: Any, client: FlaskClient) -> None:
    sign_in.complete("google", GOOGLE_ACCOUNT)
    first = me(client).get_json()["id"]
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    sign_in.complete("google", GOOGLE_ACCOUNT)
    assert me(client).get_json()["id"] == first


def test_a_user_stored_under_unkeyed_names_still_signs_in_and_is_moved(
    sign_in: Any, client: FlaskClient, redis_client: Any
) -> None:
    """Lookups and identity fields named by a plain SHA-256 of the subject (before names
    were keyed) still find their user, and leave Redis once found."""
    sign_in.complete("google", GOOGLE_ACCOUNT)
    uid = me(client).get_json()["id"]
    (subject,) = [
        i.subject for i in client.application.extensions["gateway"].users.get(uid).identities
    ]
    plain = hashlib.sha256(subject.encode()).hexdigest()
    (keyed,) = [str(k) for k in redis_client.scan_iter("gw:ident:*")]
    (field,) = [str(f) for f in redis_client.hkeys(keys.identities(uid))]
    assert plain not in keyed and plain not in field
    redis_client.delete(keyed)
    redis_client.set(f"gw:ident:google:{plain}", uid)
    redis_client.srem(keys.user_index(uid), keyed)
    redis_client.sadd(keys.user_index(uid), f"gw:ident:google:{plain}")
    redis_client.hset(
        keys.identities(uid), f"google|{plain}", redis_client.hget(keys.identities(uid), field)
    )
    redis_client.hdel(keys.identities(uid), field)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})

    sign_in.complete("google", GOOGLE_ACCOUNT)
    assert me(client).get_json()["id"] == uid
    assert [str(k) for k in redis_client.scan_iter("gw:ident:*")] == [keyed]
    assert [str(f) for f in redis_client.hkeys(keys.identities(uid))] == [field]
    assert keyed in redis_client.smembers(keys.user_index(uid))
    assert not any(plain in str(k) for k in redis_client.smembers(keys.user_index(uid)))


def test_session_id_changes_at_sign_in(sign_in: Any, client: FlaskClient) -> None:
    """A start makes no session (its flow is in the flow cookie); every sign-in, also of a
    signed-in browser, gets a new session id."""
    authorize_url = sign_in.start("google")
    assert client.get_cookie("gw_session", domain="127.0.0.1") is None
    assert client.get_cookie("gw_signin", domain="127.0.0.1") is not None
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    sign_in.back_to_gateway(*sign_in.at_provider(authorize_url))
    first = client.get_cookie("gw_session", domain="127.0.0.1")
    assert first is not None
    assert first.http_only
    assert first.same_site == "Lax"
    assert client.get_cookie("gw_signin", domain="127.0.0.1") is None  # no flow left
    assert sign_in.complete("google", GOOGLE_ACCOUNT).status_code == 303
    after = client.get_cookie("gw_session", domain="127.0.0.1")
    assert after is not None
    assert after.value != first.value


def test_no_tokens_are_kept_for_sign_in_alone(sign_in: Any, redis_contents: Any) -> None:
    sign_in.complete("google", GOOGLE_ACCOUNT)
    stored = redis_contents()
    assert "token" not in stored
    assert "code_verifier" not in stored  # the flow is gone once used
    assert "nonce" not in stored


# -- refusals --------------------------------------------------------------------------------


def test_missing_state_is_refused(sign_in: Any, client: FlaskClient) -> None:
    url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(url)
    params.pop("state")
    assert_refused(sign_in.back_to_gateway(path, params), 400, "missing_state", client)


def test_wrong_state_is_refused(sign_in: Any, client: FlaskClient) -> None:
    url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(url)
    params["state"] = "forged-" + params["state"]
    assert_refused(sign_in.back_to_gateway(path, params), 400, "invalid_state", client)


def test_state_from_another_browser_is_refused(
    sign_in: Any, client: FlaskClient, another_browser: Any
) -> None:
    url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(url)
    victim = another_browser()
    response = victim.back_to_gateway(path, params)
    assert_refused(response, 400, "invalid_state", victim.client)


def test_a_state_used_twice_is_refused(sign_in: Any, client: FlaskClient) -> None:
    url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(url)
    assert sign_in.back_to_gateway(path, params).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert_refused(sign_in.back_to_gateway(path, params), 400, "invalid_state", client)


def test_a_microsoft_form_post_replayed_is_refused(sign_in: Any, client: FlaskClient) -> None:
    url = sign_in.start("microsoft")
    sign_in.emulator.client.authorize_next(MICROSOFT_ACCOUNT)
    path, params = sign_in.at_provider(url)
    assert path.startswith("POST ")
    assert sign_in.back_to_gateway(path, params).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert_refused(sign_in.back_to_gateway(path, params), 400, "invalid_state", client)


def test_an_authorization_code_used_twice_is_refused(sign_in: Any, client: FlaskClient) -> None:
    first_url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, first = sign_in.at_provider(first_url)
    assert sign_in.back_to_gateway(path, first).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})

    second_url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    _, second = sign_in.at_provider(second_url)
    replay = {**second, "code": first["code"]}
    assert_refused(sign_in.back_to_gateway(path, replay), 400, "invalid_grant", client)


def test_a_pkce_verifier_mismatch_is_refused(sign_in: Any, client: FlaskClient) -> None:
    url_a = sign_in.start("google")
    url_b = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params_a = sign_in.at_provider(url_a)
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    _, params_b = sign_in.at_provider(url_b)
    # B's state (so B's verifier is sent) with A's code (issued for A's challenge).
    mixed = {**params_b, "code": params_a["code"]}
    assert_refused(sign_in.back_to_gateway(path, mixed), 400, "invalid_grant", client)


@pytest.mark.parametrize("tamper", ["iss", "aud", "expired", "alg-none", "signature", "nonce"])
@pytest.mark.parametrize("provider", ["google", "emulator"])
def test_a_bad_id_token_is_refused(
    sign_in: Any, client: FlaskClient, provider: str, tamper: str
) -> None:
    account = GOOGLE_ACCOUNT if provider == "google" else GENERIC_ACCOUNT
    sign_in.emulator.client.id_token_next(tamper)
    done = sign_in.complete(provider, account)
    assert_refused(done, 400, "id_token_invalid", client)


@pytest.mark.parametrize("tamper", ["iss", "aud", "expired", "alg-none", "signature"])
def test_a_bad_microsoft_id_token_is_refused(
    sign_in: Any, client: FlaskClient, tamper: str
) -> None:
    sign_in.emulator.client.id_token_next(tamper)
    done = sign_in.complete("microsoft", MICROSOFT_ACCOUNT)
    assert_refused(done, 400, "id_token_invalid", client)


def test_a_microsoft_nonce_mismatch_is_refused(sign_in: Any, client: FlaskClient) -> None:
    sign_in.emulator.client.id_token_next("nonce")
    done = sign_in.complete("microsoft", MICROSOFT_ACCOUNT)
    assert_refused(done, 400, "token_exchange_failed", client)


def test_a_microsoft_tenant_off_the_allow_list_is_refused(
    sign_in: Any, client: FlaskClient
) -> None:
    done = sign_in.complete("microsoft", OTHER_TENANT_ACCOUNT)
    assert_refused(done, 403, "tenant_not_allowed", client)


def test_access_denied_at_the_provider_is_refused(sign_in: Any, client: FlaskClient) -> None:
    done = sign_in.complete("google", GOOGLE_ACCOUNT, deny=True)
    assert_refused(done, 403, "access_denied", client)
    assert "cancelled or refused" in done.get_data(as_text=True)


def test_a_response_from_another_issuer_is_refused(sign_in: Any, client: FlaskClient) -> None:
    url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(url)
    assert params.get("iss") == sign_in.emulator.url
    params["iss"] = "https://evil.example"
    assert_refused(sign_in.back_to_gateway(path, params), 400, "callback_rejected", client)


def test_a_response_on_another_providers_path_is_refused(sign_in: Any, client: FlaskClient) -> None:
    url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    _, params = sign_in.at_provider(url)
    response = client.get("/auth/callback/emulator", query_string=params)
    assert_refused(response, 400, "invalid_state", client)


def test_an_unknown_provider_is_a_404(client: FlaskClient) -> None:
    response = client.get("/auth/login/myspace")
    assert response.status_code == 404
    assert "<code>unknown_provider</code>" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
        "/ok\r\nLocation: https://evil.example",
    ],
)
def test_next_never_leaves_the_site(sign_in: Any, next_path: str) -> None:
    done = sign_in.complete("google", GOOGLE_ACCOUNT, next_path=next_path)
    assert done.status_code == 303
    assert done.headers["Location"] == "/account"


def test_next_keeps_a_same_site_path(sign_in: Any) -> None:
    done = sign_in.complete("google", GOOGLE_ACCOUNT, next_path="/account?tab=linked")
    assert done.headers["Location"] == "/account?tab=linked"


# -- linking ---------------------------------------------------------------------------------


def test_a_second_provider_is_linked_from_a_signed_in_session(
    sign_in: Any, client: FlaskClient, another_browser: Any
) -> None:
    sign_in.complete("google", GOOGLE_ACCOUNT)
    uid = me(client).get_json()["id"]

    started = client.post("/auth/link/microsoft", data={"csrf_token": csrf_token(client)})
    assert started.status_code == 303
    sign_in.emulator.client.authorize_next(MICROSOFT_ACCOUNT)
    done = sign_in.back_to_gateway(*sign_in.at_provider(started.headers["Location"]))
    assert done.status_code == 303

    body = me(client).get_json()
    assert body["id"] == uid
    assert [i["provider"] for i in body["identities"]] == ["google", "microsoft"]

    other = another_browser()
    other.complete("microsoft", MICROSOFT_ACCOUNT)
    assert me(other.client).get_json()["id"] == uid


def test_linking_needs_a_signed_in_session_and_a_csrf_token(client: FlaskClient) -> None:
    assert client.post("/auth/link/google").status_code == 400  # no CSRF token
    page = client.get("/")
    assert page.status_code == 200


def test_accounts_are_never_joined_by_email(sign_in: Any, client: FlaskClient) -> None:
    sign_in.complete("google", GOOGLE_ACCOUNT)
    google_user = me(client).get_json()["id"]
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})

    sign_in.emulator.client.add_account(GOOGLE_ACCOUNT, "Alice Elsewhere", "oidc")
    sign_in.complete("emulator", GOOGLE_ACCOUNT)
    generic_user = me(client).get_json()
    assert generic_user["email"] == GOOGLE_ACCOUNT
    assert generic_user["id"] != google_user

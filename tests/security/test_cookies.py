"""T30 / ASVS 5.0 3.3.1-3.3.4, 7.3.1, 7.3.2 (4.0.3 3.3.2, 3.4.1-3.4.4): the session cookie's
name, flags and scope, and the session's idle and absolute lifetimes.

Measured by these tests: local development cookie `gw_session`; behind
GATEWAY_PUBLIC_URL=https://... `__Host-gw_session` with Secure; HttpOnly, SameSite=Lax,
Path=/, no Domain, no Expires/Max-Age (a browser-session cookie) in both; idle TTL in
Redis 1800 s (30 min) renewed by every request; absolute limit 12 h enforced even on a
session used every minute."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

import gateway.storage.sessions as sessions_module
from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from gateway.storage import keys
from tests.conftest import SignIn
from tests.security.support import GOOGLE_ACCOUNT, MICROSOFT_ACCOUNT, csrf_token

HTTPS_ORIGIN = "https://gw.example"
PROVIDERS = ("google", "microsoft", "emulator")


def set_cookie_headers(response: Any, name: str) -> list[dict[str, str]]:
    """The attributes of every Set-Cookie for `name` (lower-case keys; flags map to '')."""
    found = []
    for header in response.headers.getlist("Set-Cookie"):
        parts = [p.strip() for p in header.split(";")]
        cookie_name, _, value = parts[0].partition("=")
        if cookie_name != name:
            continue
        attributes = {"value": value}
        for part in parts[1:]:
            key, _, val = part.partition("=")
            attributes[key.lower()] = val
        found.append(attributes)
    return found


def assert_session_cookie(attributes: dict[str, str], *, secure: bool) -> None:
    assert "httponly" in attributes
    assert attributes.get("samesite") == "Lax"
    assert attributes.get("path") == "/"
    assert "domain" not in attributes
    assert ("secure" in attributes) is secure
    assert "expires" not in attributes and "max-age" not in attributes
    assert len(attributes["value"]) >= 43  # 32 random bytes, base64url (ASVS 7.2.3)


def assert_flow_cookie(attributes: dict[str, str], *, secure: bool) -> None:
    """The sealed pending flows: the session cookie's flags, and a flow's ten minutes."""
    assert "httponly" in attributes
    assert attributes.get("samesite") == "Lax"
    assert attributes.get("path") == "/"
    assert "domain" not in attributes
    assert ("secure" in attributes) is secure
    assert 0 < int(attributes["max-age"]) <= 600


def test_the_local_cookie_is_httponly_lax_and_host_only(sign_in: SignIn) -> None:
    """ASVS 3.3.2, 3.3.4: HttpOnly, SameSite=Lax; no Domain (host-only). A sign-in start
    sets no session cookie, only the flow cookie; the callback spends the flow."""
    started = sign_in.client.get("/auth/login/google")
    assert set_cookie_headers(started, "gw_session") == []
    (flow,) = set_cookie_headers(started, "gw_signin")
    assert_flow_cookie(flow, secure=False)
    sign_in.client.delete_cookie("gw_signin", domain="127.0.0.1")  # that flow is abandoned
    done = sign_in.complete("google", GOOGLE_ACCOUNT)
    (signed_in,) = set_cookie_headers(done, "gw_session")
    assert_session_cookie(signed_in, secure=False)
    (spent,) = set_cookie_headers(done, "gw_signin")
    assert spent["value"] == "" and spent.get("max-age") == "0"
    for header in done.headers.getlist("Set-Cookie"):
        assert SimpleCookie(header)  # well-formed


@pytest.fixture
def https_app(build_gateway: Any, make_env: Any, emulator: Any) -> Iterator[Flask]:
    """The gateway behind https://gw.example, with the emulator accepting its redirect URIs
    for this test only (registered clients survive an emulator reset, so put them back)."""
    original = [f"http://127.0.0.1:8000/auth/callback/{p}" for p in PROVIDERS]
    extra = [f"{HTTPS_ORIGIN}/auth/callback/{p}" for p in PROVIDERS]
    emulator.client.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, original + extra)
    try:
        yield build_gateway(
            make_env(GATEWAY_PUBLIC_URL=HTTPS_ORIGIN, GATEWAY_TRUSTED_HOSTS="gw.example")
        )
    finally:
        emulator.client.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, original)


class HttpsSignIn(SignIn):
    """The conftest driver, aimed at https://gw.example."""

    origin = HTTPS_ORIGIN


@pytest.mark.parametrize(
    ("provider", "account"), [("google", GOOGLE_ACCOUNT), ("microsoft", MICROSOFT_ACCOUNT)]
)
def test_behind_https_the_cookie_is_host_prefixed_and_secure(
    https_app: Flask, emulator: Any, provider: str, account: str
) -> None:
    """ASVS 3.3.1, 3.3.3: `__Host-` prefix + Secure + Path=/ + no Domain; HSTS ≥ 1 year."""
    client = https_app.test_client()
    driver = HttpsSignIn(client, emulator)
    try:
        started = client.get(f"/auth/login/{provider}", base_url=HTTPS_ORIGIN)
        assert set_cookie_headers(started, "gw_session") == []
        assert set_cookie_headers(started, "__Host-gw_session") == []  # no session yet
        assert set_cookie_headers(started, "gw_signin") == []
        (flow,) = set_cookie_headers(started, "__Host-gw_signin")
        assert_flow_cookie(flow, secure=True)
        assert "includeSubDomains" in started.headers["Strict-Transport-Security"]

        emulator.client.authorize_next(account)
        path, params = driver.at_provider(started.headers["Location"])
        if path.startswith("POST "):
            parked = client.post(path.removeprefix("POST "), data=params, base_url=HTTPS_ORIGIN)
            done = client.get(parked.headers["Location"], base_url=HTTPS_ORIGIN)
        else:
            done = client.get(path, query_string=params, base_url=HTTPS_ORIGIN)
        assert done.status_code == 303, done.get_data(as_text=True)
        (signed_in,) = set_cookie_headers(done, "__Host-gw_session")
        assert_session_cookie(signed_in, secure=True)
        me = client.get("/v1/me", base_url=HTTPS_ORIGIN)
        assert me.status_code == 200
        age = me.headers["Strict-Transport-Security"].split("max-age=")[1].split(";")[0]
        assert int(age) >= 31536000

        token = csrf_token_at(client, HTTPS_ORIGIN)
        out = client.post(
            "/auth/logout",
            data={"csrf_token": token},
            base_url=HTTPS_ORIGIN,
            headers={"Referer": f"{HTTPS_ORIGIN}/account"},  # harmless; not needed
        )
        assert out.status_code == 303, out.get_data(as_text=True)
        (cleared,) = set_cookie_headers(out, "__Host-gw_session")
        assert cleared["value"] == "" and cleared.get("path") == "/"
        assert cleared.get("max-age") == "0"
    finally:
        driver.http.close()


def test_behind_https_sign_out_clears_the_host_cookie_with_secure(
    https_app: Flask, emulator: Any
) -> None:
    """ASVS 3.3.1 / 3.3.3: the clearing Set-Cookie must itself satisfy the `__Host-` rules
    (Secure, Path=/, no Domain), or the browser ignores it."""
    client = https_app.test_client()
    driver = HttpsSignIn(client, emulator)
    try:
        started = client.get("/auth/login/google", base_url=HTTPS_ORIGIN)
        emulator.client.authorize_next(GOOGLE_ACCOUNT)
        path, params = driver.at_provider(started.headers["Location"])
        assert client.get(path, query_string=params, base_url=HTTPS_ORIGIN).status_code == 303
        out = client.post(
            "/auth/logout",
            data={"csrf_token": csrf_token_at(client, HTTPS_ORIGIN)},
            base_url=HTTPS_ORIGIN,
            headers={"Referer": f"{HTTPS_ORIGIN}/account"},
        )
        (cleared,) = set_cookie_headers(out, "__Host-gw_session")
        assert "secure" in cleared
        assert "domain" not in cleared and cleared.get("path") == "/"
    finally:
        driver.http.close()


def test_behind_https_a_form_posted_by_a_no_referrer_page_is_accepted(
    https_app: Flask, sign_in: SignIn, emulator: Any
) -> None:
    """ASVS 3.4.5 and 4.0.3 4.2.2 together: a browser obeying our own `Referrer-Policy:
    no-referrer` sends no Referer (only `Origin`) when it submits the sign-out form."""
    client = https_app.test_client()
    driver = HttpsSignIn(client, emulator)
    try:
        started = client.get("/auth/login/google", base_url=HTTPS_ORIGIN)
        assert started.headers["Referrer-Policy"] == "no-referrer"
        emulator.client.authorize_next(GOOGLE_ACCOUNT)
        path, params = driver.at_provider(started.headers["Location"])
        assert client.get(path, query_string=params, base_url=HTTPS_ORIGIN).status_code == 303
        token = csrf_token_at(client, HTTPS_ORIGIN)
        out = client.post(
            "/auth/logout",
            data={"csrf_token": token},
            base_url=HTTPS_ORIGIN,
            headers={"Origin": HTTPS_ORIGIN, "Accept": "application/json"},
        )
        assert out.status_code == 303, out.get_data(as_text=True)
        # Without the Referer check the token still decides: a cross-site form has none.
        again = client.get(path, query_string=params, base_url=HTTPS_ORIGIN)
        assert again.status_code == 400  # the state was spent; sign in afresh
        started = client.get("/auth/login/google", base_url=HTTPS_ORIGIN)
        emulator.client.authorize_next(GOOGLE_ACCOUNT)
        path, params = driver.at_provider(started.headers["Location"])
        assert client.get(path, query_string=params, base_url=HTTPS_ORIGIN).status_code == 303
        forged = client.post(
            "/auth/logout",
            data={},
            base_url=HTTPS_ORIGIN,
            headers={"Origin": "https://evil.example", "Accept": "application/json"},
        )
        assert forged.status_code == 400
        assert client.get("/v1/me", base_url=HTTPS_ORIGIN).status_code == 200
    finally:
        driver.http.close()


def csrf_token_at(client: FlaskClient, base_url: str) -> str:
    page = client.get("/account", base_url=base_url).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def session_key(client: FlaskClient) -> str:
    found = client.get_cookie("gw_session", domain="127.0.0.1")
    assert found is not None
    return keys.session(found.value)


def test_the_idle_ttl_is_thirty_minutes_and_every_request_renews_it(
    sign_in: SignIn, client: FlaskClient, redis_client: redis.Redis, app: Flask
) -> None:
    """ASVS 7.3.1 / 4.0.3 3.3.2: idle ≤ 30 min, measured as the Redis TTL."""
    sign_in.complete("google", GOOGLE_ACCOUNT)
    key = session_key(client)
    assert app.extensions["gateway"].settings.session_idle_seconds == 1800
    assert 1790 <= redis_client.ttl(key) <= 1800
    redis_client.expire(key, 60)
    assert client.get("/v1/me").status_code == 200
    assert 1790 <= redis_client.ttl(key) <= 1800


def test_an_idle_session_ends(
    sign_in: SignIn, client: FlaskClient, redis_client: redis.Redis
) -> None:
    """ASVS 7.3.1: once the idle TTL runs out the cookie is worth nothing."""
    sign_in.complete("google", GOOGLE_ACCOUNT)
    key = session_key(client)
    redis_client.pexpire(key, 1)
    time.sleep(0.01)
    assert client.get("/v1/me").status_code == 401


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


def test_the_absolute_limit_ends_a_session_that_is_used_all_the_time(
    sign_in: SignIn,
    client: FlaskClient,
    redis_client: redis.Redis,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ASVS 7.3.2 / 4.0.3 3.3.2: re-authenticate after 12 h however active the session is.

    The session module's clock advances 25 minutes per request (inside the idle limit),
    so the idle TTL never runs out; the session must still end at 12 h."""
    clock = Clock()
    monkeypatch.setattr(sessions_module, "time", clock)
    sign_in.complete("google", GOOGLE_ACCOUNT)
    limit = app.extensions["gateway"].settings.session_absolute_seconds
    assert limit == 12 * 3600
    key = session_key(client)
    created = json.loads(str(redis_client.get(key)))["created"]
    answers = []
    while clock.offset <= limit + 1500:
        answers.append((clock.offset, client.get("/v1/me").status_code))
        clock.offset += 1500
    alive = [offset for offset, status in answers if status == 200]
    assert alive and max(alive) <= limit
    assert all(status == 401 for offset, status in answers if offset > limit)
    assert not redis_client.exists(key)
    assert created <= time.time()


def test_a_cookie_csrf_token_is_not_readable_from_the_cookie(
    sign_in: SignIn, client: FlaskClient, redis_client: redis.Redis
) -> None:
    """T30 "readable cookie payload" (Flask's default): the cookie is an opaque id; the
    session, its CSRF secret and uid live only in Redis under the id's hash."""
    sign_in.complete("google", GOOGLE_ACCOUNT)
    token = csrf_token(client)
    found = client.get_cookie("gw_session", domain="127.0.0.1")
    assert found is not None
    value = found.value
    record = json.loads(str(redis_client.get(keys.session(value))))
    assert record["data"]["uid"] not in value
    assert "." not in value  # not a signed serialised payload
    assert token not in value

"""Admin rights come from the configuration on every request, never from the session; and
the absolute session limit counts from a browser's first sign-in, however often it signs in
again. Two apps over the same Redis stand for a restart with another configuration."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

import gateway.storage.sessions as sessions_module
from gateway.storage import keys
from tests.conftest import SignIn
from tests.security.support import csrf_token

BOB = "bob@example.com"
COOKIE, DOMAIN = "gw_session", "127.0.0.1"


def subject_of(emulator: Any, email: str) -> str:
    return str(next(a["subject"] for a in emulator.client.accounts() if a["email"] == email))


def session_cookie(client: FlaskClient) -> str:
    found = client.get_cookie(COOKIE, domain=DOMAIN)
    assert found is not None
    return found.value


def same_cookie_in(app: Flask, client: FlaskClient) -> FlaskClient:
    """A browser of `app` holding `client`'s session cookie (the same session in Redis)."""
    other = app.test_client()
    other.set_cookie(COOKIE, session_cookie(client), domain=DOMAIN)
    return other


@pytest.mark.parametrize("named_by", ["subject", "email", "email-domain"])
def test_removal_from_the_admins_ends_admin_rights_at_once(
    build_gateway: Callable[[dict[str, str]], Flask],
    make_env: Any,
    emulator: Any,
    redis_client: redis.Redis,
    named_by: str,
) -> None:
    """Bob is an admin of `before` (by provider:subject, or by his verified e-mail's
    domain); `after` is the same gateway restarted without him. His open session, and a
    fresh sign-in in the same browser, are refused the admin pages by `after`."""
    admin_setting = {
        "subject": {"GATEWAY_ADMINS": f"google:{subject_of(emulator, BOB)}"},
        "email": {"GATEWAY_ADMINS": f"carol@elsewhere.example, {BOB}"},
        "email-domain": {"GATEWAY_ADMIN_EMAIL_DOMAIN": "example.com"},
    }[named_by]
    env = make_env()
    before = build_gateway({**env, **admin_setting})
    after = build_gateway(env)

    browser = before.test_client()
    driver = SignIn(browser, emulator)
    assert driver.complete("google", BOB).status_code == 303
    assert browser.get("/admin").status_code == 200

    restarted = same_cookie_in(after, browser)
    assert restarted.get("/v1/me").status_code == 200  # still signed in
    assert restarted.get("/admin").status_code == 403  # but no longer an admin
    assert before.test_client().get("/admin").status_code == 401

    # Signing in again in that browser renews nothing.
    again = SignIn(restarted, emulator)
    assert again.complete("google", BOB).status_code == 303
    assert restarted.get("/admin").status_code == 403
    # ... while the configuration that names him still does, for the same session.
    assert same_cookie_in(before, restarted).get("/admin").status_code == 200

    stored = redis_client.get(keys.session(session_cookie(restarted)))
    data = json.loads(str(stored))["data"]
    assert "admin" not in data
    assert subject_of(emulator, BOB) not in str(stored)
    assert "example.com" not in str(stored)
    driver.http.close()
    again.http.close()


@pytest.mark.parametrize("named", ["subject", "email"])
def test_being_named_an_admin_takes_effect_without_signing_in_again(
    build_gateway: Callable[[dict[str, str]], Flask],
    make_env: Any,
    emulator: Any,
    named: str,
) -> None:
    """Bob signs in to a gateway that names no admin; it restarts naming him (by the
    `provider:subject` his account page shows, or by his verified e-mail address): his
    open session is an admin's at its next request."""
    env = make_env()
    before = build_gateway(env)
    browser = before.test_client()
    driver = SignIn(browser, emulator)
    assert driver.complete("google", BOB).status_code == 303
    page = browser.get("/account").get_data(as_text=True)
    shown = page.split('id="admin-id-google">', 1)[1].split("<", 1)[0]
    assert shown == f"google:{subject_of(emulator, BOB)}"
    assert browser.get("/admin").status_code == 403

    named_as = shown if named == "subject" else BOB.upper()  # e-mail matched in any case
    after = build_gateway({**env, "GATEWAY_ADMINS": named_as})
    restarted = same_cookie_in(after, browser)
    assert restarted.get("/admin").status_code == 200
    assert 'id="is-admin"' in restarted.get("/account").get_data(as_text=True)
    driver.http.close()


def test_a_microsoft_email_never_makes_an_admin(
    build_gateway: Callable[[dict[str, str]], Flask], make_env: Any, emulator: Any
) -> None:
    """Microsoft's `email` claim is unverified and mutable (the connector keeps none), so
    naming a Microsoft user's address makes no admin: name `microsoft:<tid>:<oid>`."""
    carol = "carol@contoso.example"
    app = build_gateway(make_env(GATEWAY_ADMINS=carol))
    browser = app.test_client()
    driver = SignIn(browser, emulator)
    assert driver.complete("microsoft", carol).status_code == 303
    assert browser.get("/admin").status_code == 403
    driver.http.close()


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


def test_signing_in_again_never_restarts_the_absolute_limit(
    app: Flask,
    sign_in: SignIn,
    client: FlaskClient,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Signed in at t=0, again at 11 h (the same browser, a new session id): the session
    still ends at 12 h. Signing out and in starts a new session with its own 12 h."""
    clock = Clock()
    monkeypatch.setattr(sessions_module, "time", clock)
    limit = app.extensions["gateway"].settings.session_absolute_seconds
    assert sign_in.complete("google", BOB).status_code == 303
    first = session_cookie(client)
    created = json.loads(str(redis_client.get(keys.session(first))))["created"]

    clock.offset = limit - 3600
    assert sign_in.complete("google", BOB).status_code == 303
    second = session_cookie(client)
    assert second != first and not redis_client.exists(keys.session(first))
    assert json.loads(str(redis_client.get(keys.session(second))))["created"] == created
    assert client.get("/v1/me").status_code == 200

    clock.offset = limit + 60
    assert client.get("/v1/me").status_code == 401

    assert sign_in.complete("google", BOB).status_code == 303  # a signed-out browser
    assert client.get("/v1/me").status_code == 200
    out = client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert out.status_code == 303

"""T11 / ASVS 5.0 7.2.4 (4.0.3 3.2.1), 7.4.1: a session id chosen or planted before sign-in
is never the signed-in session, and a signed-out id is dead on the server.

storage/test_sessions.py checks that the victim's own pre-sign-in id is deleted. Here the
attacker's view: an id the attacker invented, and an id the attacker obtained from the
gateway and planted in the victim's browser, are both worthless to the attacker after the
victim signs in; and a cookie copied before sign-out does not work after it."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from gateway.storage import keys
from tests.security.support import (
    GOOGLE_ACCOUNT,
    MICROSOFT_ACCOUNT,
    OTHER_GOOGLE_ACCOUNT,
    csrf_token,
)

COOKIE = "gw_session"
DOMAIN = "127.0.0.1"


def cookie(client: FlaskClient) -> str | None:
    found = client.get_cookie(COOKIE, domain=DOMAIN)
    return None if found is None else found.value


@pytest.mark.parametrize(
    "planted", ["attacker-chosen-id", "A" * 43, "x" * 128, "../../etc", "0" * 200]
)
def test_an_invented_id_is_never_adopted(
    sign_in: Any, client: FlaskClient, redis_client: redis.Redis, planted: str
) -> None:
    """T11: "an unknown sid → nothing stored under it" before sign-in (a start writes no
    session), "→ a fresh sid" at sign-in."""
    client.set_cookie(COOKIE, planted, domain=DOMAIN)
    sign_in.start("google")
    assert not redis_client.exists(keys.session(planted))
    client.set_cookie(COOKIE, planted, domain=DOMAIN)
    done = sign_in.complete("google", GOOGLE_ACCOUNT)
    assert done.status_code == 303
    assert cookie(client) not in (None, planted)
    assert not redis_client.exists(keys.session(planted))


@pytest.mark.parametrize(
    ("provider", "account"), [("google", GOOGLE_ACCOUNT), ("microsoft", MICROSOFT_ACCOUNT)]
)
def test_an_id_planted_by_the_attacker_is_anonymous_after_the_victim_signs_in(
    app: Flask,
    sign_in: Any,
    client: FlaskClient,
    another_browser: Any,
    provider: str,
    account: str,
) -> None:
    """T11: a sign-in start hands out no session id, so the attacker plants a real id of
    their own (signed in as themself); post-login sid ≠ planted sid and the attacker's copy
    is dead (ASVS 7.2.4)."""
    attacker_browser = another_browser()
    attacker = attacker_browser.client
    attacker.get(f"/auth/login/{provider}")
    assert cookie(attacker) is None  # nothing to steal before sign-in
    assert attacker_browser.complete("google", OTHER_GOOGLE_ACCOUNT).status_code == 303
    planted = cookie(attacker)
    assert planted
    attacker_id = attacker.get("/v1/me").get_json()["id"]

    client.set_cookie(COOKIE, planted, domain=DOMAIN)  # the victim's browser now holds it
    done = sign_in.complete(provider, account)
    assert done.status_code == 303
    assert cookie(client) != planted
    assert client.get("/v1/me").get_json()["id"] != attacker_id
    assert attacker.get("/v1/me").status_code == 401
    assert attacker.get("/account").status_code in (302, 303, 401)


def test_a_cookie_copied_before_sign_out_is_dead_after_it(
    app: Flask, sign_in: Any, client: FlaskClient, redis_client: redis.Redis
) -> None:
    """ASVS 7.4.1 / T30 "logout → old cookie 401 (server-side)"."""
    sign_in.complete("google", GOOGLE_ACCOUNT)
    stolen = cookie(client)
    assert stolen
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen, domain=DOMAIN)
    assert thief.get("/v1/me").status_code == 200
    out = client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert out.status_code == 303
    assert not redis_client.exists(keys.session(stolen))
    assert thief.get("/v1/me").status_code == 401


def test_signing_in_as_someone_else_rotates_the_id_again(
    sign_in: Any, client: FlaskClient, another_browser: Any
) -> None:
    """ASVS 7.2.4: every authentication gets a new id, also from a signed-in session."""
    sign_in.complete("google", GOOGLE_ACCOUNT)
    first = cookie(client)
    sign_in.complete("google", "bob@example.com")
    assert cookie(client) not in (None, first)

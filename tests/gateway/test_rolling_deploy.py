"""A rolling deploy that rotates keys signs nobody out: two gateways on one Redis, each on the
configuration of one step of the procedure in deploy/ROTATION.md, serve the same people.

Encryption keys (GATEWAY_ENCRYPTION_KEYS): add the new version second, roll out, make it
first, roll out, `keys rotate`, `keys retire`. The secret key: the new one as
GATEWAY_SECRET_KEY with the old one in GATEWAY_SECRET_KEY_FALLBACKS, roll out, later drop the
fallback; API client secrets, receipts and pseudonyms never notice.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from gateway.crypto.keyring import new_key_entry
from tests.conftest import SignIn

ACCOUNT = "alice@example.com"
Build = Callable[[dict[str, str]], Flask]


def signed_in_on(app: Flask, emulator: Any) -> tuple[int, dict[str, Any]]:
    """A fresh browser signs in on `app`; (status of /v1/me, its body)."""
    browser = SignIn(app.test_client(), emulator)
    browser.complete("google", ACCOUNT)
    me = browser.client.get("/v1/me")
    return me.status_code, me.get_json() or {}


def test_the_two_phase_key_ring_rollout_keeps_everyone_signed_in(
    make_env: Any, build_gateway: Build, emulator: Any
) -> None:
    v1 = make_env()["GATEWAY_ENCRYPTION_KEYS"]
    v2 = new_key_entry("v2")
    old = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=v1))
    # phase 1: the new version is known everywhere before anyone wraps with it
    phase1 = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=f"{v1},{v2}"))
    status, me = signed_in_on(phase1, emulator)
    assert status == 200
    assert signed_in_on(old, emulator) == (200, me)  # the same person, readable by both
    # phase 2: new version first, beside a gateway still on phase 1
    phase2 = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=f"{v2},{v1}"))
    assert signed_in_on(phase2, emulator) == (200, me)  # the profile is re-sealed under v2
    assert signed_in_on(phase1, emulator) == (200, me)
    ring = phase2.extensions["gateway"].settings.keyring
    assert ring.newest == "v2"


def test_skipping_phase_one_is_what_signs_people_out(
    make_env: Any, build_gateway: Build, emulator: Any
) -> None:
    """Why the procedure has two phases: a gateway that never heard of v2 cannot read what a
    gateway already on [v2, v1] wrote."""
    v1 = make_env()["GATEWAY_ENCRYPTION_KEYS"]
    old = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=v1))
    jumped = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=f"{new_key_entry('v2')},{v1}"))
    assert signed_in_on(jumped, emulator)[0] == 200
    assert signed_in_on(old, emulator)[0] != 200


def test_a_secret_key_rotation_keeps_clients_receipts_pseudonyms_and_sign_ins(
    make_env: Any, build_gateway: Build, emulator: Any
) -> None:
    first = make_env()["GATEWAY_SECRET_KEY"]
    second = secrets.token_urlsafe(48)
    before = build_gateway(make_env())
    services = before.extensions["gateway"]
    with before.app_context():
        _, client_secret = services.api_clients.create("frontend", {"members"}, set(), "60/minute")
    status, me = signed_in_on(before, emulator)
    assert status == 200
    receipt = services.revocation.signer.sign({"receipt": "r1", "kind": "test"})
    pseudonym = services.audit.pseudonym(me["id"])

    # a sign-in started on a gateway not yet rolled over, finished on one that is
    browser = SignIn(before.test_client(), emulator)
    authorize_url = browser.start("google")
    rotated = build_gateway(make_env(GATEWAY_SECRET_KEY=second, GATEWAY_SECRET_KEY_FALLBACKS=first))
    host = urlsplit(SignIn.origin).hostname or "localhost"
    flow_cookie = browser.client.get_cookie("gw_signin", domain=host)
    assert flow_cookie is not None
    browser.client = rotated.test_client()
    browser.client.set_cookie("gw_signin", flow_cookie.value, domain=host)
    emulator.client.authorize_next(ACCOUNT)
    path, params = browser.at_provider(authorize_url)
    landed = browser.back_to_gateway(path, params)
    assert landed.status_code in (302, 303), landed.get_data(as_text=True)
    assert browser.client.get("/v1/me").get_json()["id"] == me["id"]

    # and once the old key is dropped from configuration altogether
    after = build_gateway(make_env(GATEWAY_SECRET_KEY=second))
    for app in (rotated, after):
        found = app.extensions["gateway"]
        bearer = {"Authorization": f"Bearer {client_secret}"}
        assert app.test_client().get("/v1/rooms", headers=bearer).status_code == 200
        assert found.revocation.signer.verify(receipt)["receipt"] == "r1"
        assert found.audit.pseudonym(me["id"]) == pseudonym
        assert signed_in_on(app, emulator) == (200, me)  # the keyed subject name still finds them


def test_an_admin_stays_admin_across_the_secret_key_rotation(make_env: Any) -> None:
    from gateway.config import Settings

    first = make_env()["GATEWAY_SECRET_KEY"]
    admins = {"GATEWAY_ADMINS": "google:alice-subject"}
    before = Settings.from_env(make_env(**admins))
    marks = before.identity_marks("google", "alice-subject", None)
    second = secrets.token_urlsafe(48)
    rotated = Settings.from_env(
        make_env(GATEWAY_SECRET_KEY=second, GATEWAY_SECRET_KEY_FALLBACKS=first, **admins)
    )
    assert rotated.is_admin_marked(marks)
    dropped = Settings.from_env(make_env(GATEWAY_SECRET_KEY=second, **admins))
    assert not dropped.is_admin_marked(marks)  # the next sign-in marks them afresh
    assert dropped.is_admin_marked(dropped.identity_marks("google", "alice-subject", None))

"""The token vault: sealed tokens, per-grant keys, single-flight refresh, and how grants end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from connectors.values import Identity
from emulator import DEFAULT_CLIENT_ID
from gateway.services.grants import GrantUnavailable
from gateway.storage import keys
from gateway.storage.grants import BROKEN, NEEDS_CONSENT, REVOKED

ROOM_AVAILABILITY = "room-availability"
GOOGLE_FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
MICROSOFT_CALENDARS = "Calendars.ReadBasic"
ALICE = "alice@example.com"
CAROL = "carol@contoso.example"
WORKER = Path(__file__).with_name("refresh_worker.py")
ROOT = Path(__file__).resolve().parents[3]


def authorize(app: Flask, sign_in: Any, provider: str, account: str, **answer: Any) -> Identity:
    """Run a calendar authorization through the real connector and the emulator."""
    connector = app.extensions["gateway"].signin.connectors[provider]
    scope = GOOGLE_FREEBUSY if provider == "google" else MICROSOFT_CALENDARS
    redirect_uri = app.extensions["gateway"].settings.redirect_uri(provider)
    request = connector.begin(redirect_uri, f"state-{time.monotonic_ns()}", (scope,))
    sign_in.emulator.client.authorize_next(account, **answer)
    _, params = sign_in.at_provider(request.url)
    return connector.complete(redirect_uri, request.flow, params)


def signed_in_user(sign_in: Any, client: Any, account: str, provider: str = "google") -> str:
    sign_in.complete(provider, account)
    return client.get("/v1/me").get_json()["id"]


@pytest.fixture
def alice(sign_in: Any, client: Any) -> str:
    return signed_in_user(sign_in, client, ALICE)


def grant_for(app: Flask, sign_in: Any, uid: str, provider: str = "google", **answer: Any) -> str:
    account = ALICE if provider == "google" else CAROL
    identity = authorize(app, sign_in, provider, account, **answer)
    return app.extensions["gateway"].grants.create(uid, ROOM_AVAILABILITY, identity).id


def expire_access_tokens(app: Flask, sign_in: Any, uid: str, provider: str = "google") -> str:
    """A grant whose access token is already due for refresh (issued with a 1 s lifetime)."""
    sign_in.emulator.client.settings(access_token_ttl=1)
    gid = grant_for(app, sign_in, uid, provider)
    sign_in.emulator.client.settings(access_token_ttl=3600)
    return gid


def test_a_grant_keeps_tokens_sealed_and_nothing_personal_in_plaintext(
    app: Flask, sign_in: Any, alice: str, redis_contents: Any
) -> None:
    identity = authorize(app, sign_in, "google", ALICE)
    assert identity.tokens is not None
    grants = app.extensions["gateway"].grants
    gid = grants.create(alice, ROOM_AVAILABILITY, identity).id
    assert grants.access_token(alice, gid) == identity.tokens.access_token

    stored = redis_contents()
    for secret in (identity.tokens.access_token, identity.tokens.refresh_token):
        assert secret and secret not in stored
    assert ALICE not in stored
    assert "Alice Example" not in stored
    assert identity.subject not in stored
    assert "id_token" not in stored


def test_a_microsoft_grant_keeps_msal_cache_sealed_and_refreshes(
    app: Flask, sign_in: Any, client: Any, redis_contents: Any
) -> None:
    uid = signed_in_user(sign_in, client, CAROL, "microsoft")
    gid = expire_access_tokens(app, sign_in, uid, "microsoft")
    calls = sign_in.emulator.client.calls().get("microsoft.token", 0)
    token = app.extensions["gateway"].grants.access_token(uid, gid)
    assert sign_in.emulator.client.calls()["microsoft.token"] == calls + 1
    assert token not in redis_contents()
    assert app.extensions["gateway"].grants.access_token(uid, gid) == token  # now fresh


def test_a_ciphertext_moved_to_another_grant_does_not_decrypt_and_breaks_that_grant(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    grants = app.extensions["gateway"].grants
    first = grant_for(app, sign_in, alice)
    second = grant_for(app, sign_in, alice)
    source = redis_client.hgetall(keys.grant(alice, first))
    redis_client.hset(
        keys.grant(alice, second), mapping={"dk": source["dk"], "tokens": source["tokens"]}
    )
    with pytest.raises(GrantUnavailable) as refused:
        grants.access_token(alice, second)
    assert refused.value.status == BROKEN
    broken = redis_client.hgetall(keys.grant(alice, second))
    assert broken["status"] == BROKEN
    assert "tokens" not in broken
    assert "dk" not in broken
    assert grants.access_token(alice, first)  # the original is untouched


def test_a_ciphertext_moved_to_another_user_does_not_decrypt(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis, another_browser: Any
) -> None:
    other = another_browser()
    other.complete("google", "bob@example.com")
    bob = other.client.get("/v1/me").get_json()["id"]
    gid = grant_for(app, sign_in, alice)
    stolen = redis_client.hgetall(keys.grant(alice, gid))
    redis_client.hset(keys.grant(bob, gid), mapping=stolen)
    redis_client.sadd(keys.grants(bob), gid)
    with pytest.raises(GrantUnavailable) as refused:
        app.extensions["gateway"].grants.access_token(bob, gid)
    assert refused.value.status == BROKEN


def test_fifty_concurrent_requests_in_two_processes_refresh_once(
    app: Flask, sign_in: Any, alice: str, gateway_env: dict[str, str]
) -> None:
    gid = expire_access_tokens(app, sign_in, alice)
    before = sign_in.emulator.client.calls().get("google.token", 0)
    start_at = time.time() + 3.0  # both processes are up by then; all threads go together
    env = {**os.environ, "WORKER_ENV": json.dumps(gateway_env), "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), alice, gid, "25", str(start_at)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=90)
        assert worker.returncode == 0, err
        results.append(json.loads(out))
    assert sum(r["ok"] for r in results) == 50
    assert sum(len(r["errors"]) for r in results) == 0
    assert len({t for r in results for t in r["token_hashes"]}) == 1
    assert sign_in.emulator.client.calls()["google.token"] == before + 1


def test_invalid_grant_on_refresh_revokes_and_purges_and_tells_the_owner(
    app: Flask, sign_in: Any, client: Any, alice: str, redis_client: redis.Redis
) -> None:
    gid = expire_access_tokens(app, sign_in, alice)
    cached = f"{keys.user_tag(alice)}:fb:{gid}:primary:2026-11-25"
    redis_client.set(cached, "[]")
    redis_client.sadd(keys.grant_cached(alice, gid), cached)
    sign_in.emulator.client.fault("google.token", error="invalid_grant")

    with pytest.raises(GrantUnavailable) as refused:
        app.extensions["gateway"].grants.access_token(alice, gid)
    assert refused.value.status == REVOKED
    record = redis_client.hgetall(keys.grant(alice, gid))
    assert record["status"] == REVOKED
    assert not {"dk", "tokens", "subject"} & set(record)
    assert not redis_client.exists(cached)
    page = client.get("/account").get_data(as_text=True)
    assert "no longer accepts this grant" in page


def test_refresh_with_fewer_scopes_marks_the_grant_needs_consent(
    app: Flask, sign_in: Any, alice: str
) -> None:
    gid = expire_access_tokens(app, sign_in, alice)
    sign_in.emulator.client.set_grant(ALICE, DEFAULT_CLIENT_ID, ["openid", "email", "profile"])
    grants = app.extensions["gateway"].grants
    with pytest.raises(GrantUnavailable) as refused:
        grants.access_token(alice, gid)
    assert refused.value.status == NEEDS_CONSENT
    with pytest.raises(GrantUnavailable):
        grants.access_token(alice, gid)  # not used again
    (view,) = grants.list(alice)
    assert view.status == NEEDS_CONSENT
    assert "https://www.googleapis.com/auth/calendar.events.freebusy" in view.reason  # v2


def test_a_consent_withdrawn_at_microsoft_marks_the_grant_needs_consent_not_revoked(
    app: Flask, sign_in: Any, alice: str
) -> None:
    """Microsoft refuses the refresh outright (invalid_grant, AADSTS65001) where Google
    answers with fewer scopes; for the person both mean "give consent again"."""
    gid = expire_access_tokens(app, sign_in, alice, "microsoft")
    sign_in.emulator.client.set_grant(CAROL, DEFAULT_CLIENT_ID, ["openid", "profile", "email"])
    grants = app.extensions["gateway"].grants
    with pytest.raises(GrantUnavailable) as refused:
        grants.access_token(alice, gid)
    assert refused.value.status == NEEDS_CONSENT
    (view,) = grants.list(alice)
    assert view.status == NEEDS_CONSENT
    assert "give consent again" in view.reason


def test_a_grant_missing_its_scope_is_never_stored(app: Flask, sign_in: Any, alice: str) -> None:
    identity = authorize(app, sign_in, "google", ALICE, grant=["openid", "email", "profile"])
    grants = app.extensions["gateway"].grants
    with pytest.raises(GrantUnavailable) as refused:
        grants.create(alice, ROOM_AVAILABILITY, identity)
    assert refused.value.status == NEEDS_CONSENT
    assert grants.list(alice) == []


def test_many_threads_share_one_refresh(app: Flask, sign_in: Any, alice: str) -> None:
    gid = expire_access_tokens(app, sign_in, alice)
    before = sign_in.emulator.client.calls().get("google.token", 0)
    grants = app.extensions["gateway"].grants
    tokens: list[str] = []
    barrier = threading.Barrier(16)

    def use() -> None:
        barrier.wait()
        tokens.append(grants.access_token(alice, gid))

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(tokens) == 16
    assert len(set(tokens)) == 1
    assert sign_in.emulator.client.calls()["google.token"] == before + 1


def test_grant_states_are_read_together_and_say_what_get_says(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    """The free/busy path reads every expired grant's provider and status in one round trip
    (issue 17); what it reads is what `get` says, and a grant that is gone reads None."""
    grants = app.extensions["gateway"].grants
    google = grant_for(app, sign_in, alice)
    broken = grant_for(app, sign_in, alice)
    redis_client.hset(keys.grant(alice, broken), "status", BROKEN)
    pairs = [(alice, google), (alice, broken), (alice, "no-such-grant")]

    found = grants.states(pairs)

    assert found == [("google", "active"), ("google", BROKEN), None]
    unreadable = grant_for(app, sign_in, alice)  # a number `get` cannot read: broken too
    redis_client.hset(keys.grant(alice, unreadable), "version", "not a number")
    again = grants.states([*pairs, (alice, unreadable)])
    views = [grants.get(uid, gid) for uid, gid in [*pairs, (alice, unreadable)]]
    assert again == [(v.provider, v.status) if v else None for v in views]
    assert again[3] == ("google", BROKEN)

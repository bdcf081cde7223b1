"""T27 / ASVS 5.0 11.3.4 (NIST SP 800-38D): no (key, nonce) pair is ever reused.
T25 / ASVS 5.0 11.3.3, 11.2.5 (4.0.3 8.3.7): a stored sealed field with one bit flipped,
truncated or garbled is never read: the grant is treated as broken (tokens shredded, owner
told to reconnect), the room it serves answers `unknown`, and no answer is a 500.

test_keyring.py and test_grants.py cover round trips and ciphertexts *moved* between
owners; here the ciphertexts are *altered* in place, byte by byte, and nonces are counted.

Measured: 200,000 seals under one data key and 50,000 wraps under one key-encryption key
give 0 repeated nonces (96-bit random nonces from os.urandom)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from gateway.crypto.keyring import NONCE_BYTES, KeyRing, encrypt, new_data_key, new_key_entry
from gateway.crypto.vault import Vault, grant_context
from gateway.services.grants import GrantUnavailable, KeyRingIncomplete
from gateway.storage import keys
from gateway.storage.grants import BROKEN
from tests.gateway.services.test_grants import grant_for
from tests.security.support import GOOGLE_ACCOUNT, signed_in_uid


def nonce_of(sealed: str) -> bytes:
    return base64.urlsafe_b64decode(sealed)[:NONCE_BYTES]


def test_no_nonce_repeats_under_one_data_key() -> None:
    """T27: 2x10⁵ seals of the same plaintext and context → 0 repeated nonces, and no two
    ciphertexts equal (a repeated GCM nonce would show as equal ciphertexts)."""
    data_key = new_data_key()
    sealed = [
        encrypt(data_key, b"refresh-token", "grant:u|google|g|tokens") for _ in range(200_000)
    ]
    assert len({nonce_of(s) for s in sealed}) == len(sealed)
    assert len(set(sealed)) == len(sealed)


def test_no_nonce_repeats_when_wrapping_data_keys() -> None:
    """T27 for the key-encryption key: 5x10⁴ wraps under one KEK → 0 repeated nonces."""
    ring = KeyRing.parse(new_key_entry("v1"))
    data_key = new_data_key()
    wrapped = [ring.wrap(data_key, "grant:u|google|g").partition(":")[2] for _ in range(50_000)]
    assert len({nonce_of(w) for w in wrapped}) == len(wrapped)


def test_the_vault_seals_json_with_fresh_nonces() -> None:
    """T27 through the API the services use (Vault.seal_json)."""
    vault = Vault(KeyRing.parse(new_key_entry("v1")))
    data_key, _ = vault.new_owner_key("user:u")
    sealed = [vault.seal_json(data_key, {"t": "x"}, "user:u", "profile") for _ in range(20_000)]
    assert len({nonce_of(s) for s in sealed}) == len(sealed)


# -- tampering ---------------------------------------------------------------------------------
def flip(sealed: str, position: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    raw[position % len(raw)] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


def truncate(sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed)
    return base64.urlsafe_b64encode(raw[:-1]).decode()


Tamper = Callable[[str], str]
TAMPERS: dict[str, Tamper] = {
    "nonce-bit": lambda s: flip(s, 0),
    "last-nonce-bit": lambda s: flip(s, NONCE_BYTES - 1),
    "first-ciphertext-bit": lambda s: flip(s, NONCE_BYTES),
    "middle-bit": lambda s: flip(s, len(base64.urlsafe_b64decode(s)) // 2),
    "tag-bit": lambda s: flip(s, -1),
    "truncated": truncate,
    "extended": lambda s: base64.urlsafe_b64encode(base64.urlsafe_b64decode(s) + b"\0").decode(),
    "nonce-only": lambda s: base64.urlsafe_b64encode(base64.urlsafe_b64decode(s)[:12]).decode(),
    "not-base64": lambda s: "%%%" + s[3:],
    "empty": lambda s: "",
}


def on_wrapped(tamper: Tamper) -> Tamper:
    """Apply a tamper to the sealed part of `<version>:<sealed>`."""

    def apply(value: str) -> str:
        version, _, sealed = value.partition(":")
        return f"{version}:{tamper(sealed)}"

    return apply


@pytest.fixture
def alice(sign_in: Any, client: FlaskClient) -> str:
    sign_in.complete("google", GOOGLE_ACCOUNT)
    return signed_in_uid(client)


@pytest.mark.parametrize("field", ["tokens", "dk"])
@pytest.mark.parametrize("how", list(TAMPERS))
def test_a_tampered_grant_field_breaks_the_grant_and_is_never_read(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis, field: str, how: str
) -> None:
    """T25: 100% fail closed → "broken" state with the reason shown; secrets shredded."""
    grants = app.extensions["gateway"].grants
    gid = grant_for(app, sign_in, alice)
    key = keys.grant(alice, gid)
    original = str(redis_client.hget(key, field))
    tamper = TAMPERS[how] if field == "tokens" else on_wrapped(TAMPERS[how])
    redis_client.hset(key, field, tamper(original))
    with pytest.raises(GrantUnavailable) as refused:
        grants.access_token(alice, gid)
    assert refused.value.status == BROKEN
    left = redis_client.hgetall(key)
    assert left["status"] == BROKEN
    assert not {"dk", "tokens", "subject"} & set(left)
    assert "connect the calendar again" in left["reason"]


def test_a_data_key_wrapped_under_an_unknown_version_is_not_read_and_not_shredded(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    """T25 vs T26: a version the ring does not know is a configuration problem (the key may
    come back), so the grant is refused loudly but its data is kept."""
    grants = app.extensions["gateway"].grants
    gid = grant_for(app, sign_in, alice)
    key = keys.grant(alice, gid)
    wrapped = str(redis_client.hget(key, "dk"))
    redis_client.hset(key, "dk", "v-unknown:" + wrapped.partition(":")[2])
    with pytest.raises((KeyRingIncomplete, GrantUnavailable)):
        grants.access_token(alice, gid)
    assert redis_client.hget(key, "tokens")


def test_a_tampered_grant_never_shows_as_free_or_500_in_the_api(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    """T25 "0 HTTP 500" + T19 "never free": HTTP 200, and the bound room answers
    `needs_reconnect` (its grant is marked broken and its host asked to connect again), with
    no busy times that could read as free."""
    from tests.security.support import DAY, api_client, bearer, make_room

    gid = grant_for(app, sign_in, alice)
    make_room(app, "tampered", ["frontend"], host=alice)
    app.extensions["gateway"].rooms.bind(alice, "tampered", gid)
    key = keys.grant(alice, gid)
    redis_client.hset(key, "tokens", flip(str(redis_client.hget(key, "tokens")), -1))
    secret = api_client(app, "fe", {"frontend"})
    answer = app.test_client().post(
        "/v1/freebusy", json={"rooms": ["tampered"], **DAY}, headers=bearer(secret)
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["rooms"]["tampered"]["status"] == "needs_reconnect"
    assert answer.get_json()["rooms"]["tampered"]["busy"] == []
    assert app.extensions["gateway"].grants.get(alice, gid).status == "broken"


def test_a_tampered_binding_calendar_makes_the_room_unknown(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    """T25 on the sealed calendar id of a room binding."""
    from tests.security.support import DAY, api_client, bearer, make_room

    gid = grant_for(app, sign_in, alice)
    make_room(app, "cal", ["frontend"], host=alice)
    app.extensions["gateway"].rooms.bind(alice, "cal", gid)
    binding = f"{keys.user_tag(alice)}:binding:cal"
    assert redis_client.exists(binding), redis_client.keys("*binding*")
    # the binding keeps each calendar as JSON under "cal:<version>"; flip its sealed id
    (field,) = [f for f in redis_client.hkeys(binding) if str(f).startswith("cal:")]
    entry = json.loads(str(redis_client.hget(binding, field)))
    entry["calendar"] = flip(entry["calendar"], -1)
    redis_client.hset(binding, field, json.dumps(entry))
    secret = api_client(app, "fe", {"frontend"})
    answer = app.test_client().post(
        "/v1/freebusy", json={"rooms": ["cal"], **DAY}, headers=bearer(secret)
    )
    assert answer.status_code == 200
    assert answer.get_json()["rooms"]["cal"]["status"] == "unknown"


@pytest.mark.parametrize("where", ["profile-sealed", "profile-dk", "identity"])
def test_a_tampered_profile_is_never_read_and_never_a_500(
    alice: str, client: FlaskClient, redis_client: redis.Redis, where: str
) -> None:
    """T25: "0 HTTP 500; one uniform error path" for the user's own sealed profile."""
    if where == "identity":
        key = keys.identities(alice)
        field = next(iter(redis_client.hkeys(key)))
        redis_client.hset(key, field, flip(str(redis_client.hget(key, field)), -1))
    else:
        field = "sealed" if where == "profile-sealed" else "dk"
        value = str(redis_client.hget(keys.profile(alice), field))
        tampered = flip(value, -1) if field == "sealed" else on_wrapped(TAMPERS["tag-bit"])(value)
        redis_client.hset(keys.profile(alice), field, tampered)
    for path in ("/v1/me", "/v1/me/export", "/account"):
        answer = client.get(path)
        assert answer.status_code != 500, (path, answer.get_data(as_text=True))
        assert "alice" not in answer.get_data(as_text=True).lower(), path


def test_the_owner_of_a_tampered_profile_can_still_sign_in(
    sign_in: Any, alice: str, client: FlaskClient, redis_client: redis.Redis
) -> None:
    """T25: a broken profile must not lock its owner out with a 500 at sign-in."""
    value = str(redis_client.hget(keys.profile(alice), "dk"))
    redis_client.hset(keys.profile(alice), "dk", on_wrapped(TAMPERS["tag-bit"])(value))
    again = sign_in.complete("google", GOOGLE_ACCOUNT)
    assert again.status_code != 500, again.get_data(as_text=True)


def test_sealed_values_carry_no_plaintext(
    app: Flask, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    """T24 spot check: the grant's sealed fields decode to nonce || ciphertext || tag and
    open only under their own context (ASVS 11.3.3)."""
    gid = grant_for(app, sign_in, alice)
    record = redis_client.hgetall(keys.grant(alice, gid))
    vault: Vault = app.extensions["gateway"].vault
    context = grant_context(alice, "google", gid)
    data_key = vault.owner_key(str(record["dk"]), context)
    tokens = vault.open_json(data_key, str(record["tokens"]), context, "tokens")
    assert json.dumps(tokens) not in record["tokens"]
    raw = base64.urlsafe_b64decode(record["tokens"])
    assert len(raw) >= NONCE_BYTES + 16 + 1

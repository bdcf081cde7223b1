"""Users whose sealed profile no longer opens: unknown until their next sign-in seals it again.

A profile's data key, its sealed display fields and each sealed identity are bound to the
user (gateway.crypto.vault); whatever of them is altered, moved or gone is never read.
`get` then answers None (the user is signed out, nothing of them is shown), and the next
sign-in through the identity's own lookup key replaces what does not open. A key-encryption
key missing from the ring is configuration, not damage: nothing is rewritten.
"""

from __future__ import annotations

import base64
import time
from typing import Any, cast

import pytest
import redis

from gateway.crypto.keyring import KeyRetired, KeyRing, new_key_entry
from gateway.crypto.vault import Vault
from gateway.storage import keys
from gateway.storage.users import LinkedIdentity, UserStore


def flip(sealed: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    raw[-1] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


def flip_wrapped(wrapped: str) -> str:
    version, _, sealed = wrapped.partition(":")
    return f"{version}:{flip(sealed)}"


def identity(provider: str, subject: str, name: str, linked_at: float = 0.0) -> LinkedIdentity:
    return LinkedIdentity(
        provider=provider,
        subject=subject,
        email=f"{name.lower()}@example.com",
        name=name,
        linked_at=linked_at or time.time(),
    )


@pytest.fixture
def store(redis_client: redis.Redis) -> UserStore:
    return UserStore(redis_client, Vault(KeyRing.parse(new_key_entry("v1"))))


def test_an_intact_user_reads_back_with_every_identity(store: UserStore) -> None:
    uid = store.create_with_identity(identity("google", "g-1", "Alice", 100.0))
    store.link(uid, identity("microsoft", "t:o", "Alice M", 200.0))
    user = store.get(uid)
    assert user is not None
    assert (user.name, user.email) == ("Alice", "alice@example.com")
    assert [i.provider for i in user.identities] == ["google", "microsoft"]


@pytest.mark.parametrize("where", ["dk", "sealed", "identity", "created"])
def test_a_damaged_profile_is_unknown_and_the_next_sign_in_seals_it_again(
    store: UserStore, redis_client: redis.Redis, where: str
) -> None:
    uid = store.create_with_identity(identity("google", "g-1", "Alice", 100.0))
    profile = keys.profile(uid)
    if where == "dk":
        redis_client.hset(profile, "dk", flip_wrapped(str(redis_client.hget(profile, "dk"))))
    elif where == "sealed":
        redis_client.hset(profile, "sealed", flip(str(redis_client.hget(profile, "sealed"))))
    elif where == "created":
        redis_client.hset(profile, "created", "not a number")
    else:
        field = next(iter(redis_client.hkeys(keys.identities(uid))))
        sealed = str(redis_client.hget(keys.identities(uid), field))
        redis_client.hset(keys.identities(uid), field, flip(sealed))
    assert store.get(uid) is None

    store.refresh_identity(uid, identity("google", "g-1", "Alice Renamed"))
    user = store.get(uid)
    assert user is not None and user.id == uid
    assert (user.name, user.email) == ("Alice Renamed", "alice renamed@example.com")
    assert [(i.provider, i.subject) for i in user.identities] == [("google", "g-1")]
    assert store.owner_of("google", "g-1") == uid
    if where in ("sealed", "created"):  # the key and the identity were intact: kept
        assert user.identities[0].linked_at == 100.0


def test_a_new_key_drops_every_identity_sealed_under_the_old_one_until_it_signs_in(
    store: UserStore, redis_client: redis.Redis
) -> None:
    uid = store.create_with_identity(identity("google", "g-1", "Alice", 100.0))
    store.link(uid, identity("microsoft", "t:o", "Alice M", 200.0))
    profile = keys.profile(uid)
    redis_client.hset(profile, "dk", flip_wrapped(str(redis_client.hget(profile, "dk"))))

    store.refresh_identity(uid, identity("google", "g-1", "Alice"))
    user = store.get(uid)
    assert user is not None
    assert [i.provider for i in user.identities] == ["google"]
    # The other identity still leads to the same user and comes back when it signs in.
    assert store.owner_of("microsoft", "t:o") == uid
    store.refresh_identity(uid, identity("microsoft", "t:o", "Alice M"))
    user = store.get(uid)
    assert user is not None
    assert [i.provider for i in user.identities] == ["google", "microsoft"]


def test_linking_to_a_damaged_profile_seals_it_again(
    store: UserStore, redis_client: redis.Redis
) -> None:
    uid = store.create_with_identity(identity("google", "g-1", "Alice"))
    profile = keys.profile(uid)
    redis_client.hset(profile, "dk", flip_wrapped(str(redis_client.hget(profile, "dk"))))
    store.link(uid, identity("microsoft", "t:o", "Alice M"))
    user = store.get(uid)
    assert user is not None
    assert user.name == "Alice M"
    assert [i.provider for i in user.identities] == ["microsoft"]


def test_records_moved_from_another_user_are_never_read(
    store: UserStore, redis_client: redis.Redis
) -> None:
    alice = store.create_with_identity(identity("google", "g-a", "Alice"))
    bob = store.create_with_identity(identity("google", "g-b", "Bob"))
    # Bob's whole profile (key and sealed fields) copied over Alice's.
    bobs = cast(dict[str, str], redis_client.hgetall(keys.profile(bob)))
    for field, value in bobs.items():
        redis_client.hset(keys.profile(alice), field, value)
    assert store.get(alice) is None
    store.refresh_identity(alice, identity("google", "g-a", "Alice"))
    user = store.get(alice)
    assert user is not None and user.name == "Alice"
    assert [i.subject for i in user.identities] == ["g-a"]

    # One of Alice's own identities moved under another identity's field.
    store.link(alice, identity("microsoft", "t:o", "Alice M"))
    linked = cast(dict[str, str], redis_client.hgetall(keys.identities(alice)))
    google_field = next(f for f in linked if f.startswith("google|"))
    redis_client.hset(keys.identities(alice), "google|" + "0" * 64, linked[google_field])
    assert store.get(alice) is None
    store.refresh_identity(alice, identity("google", "g-a", "Alice"))
    user = store.get(alice)
    assert user is not None
    assert sorted(i.subject for i in user.identities) == ["g-a", "t:o"]
    assert "google|" + "0" * 64 not in redis_client.hkeys(keys.identities(alice))


def test_a_profile_that_is_not_utf8_is_unknown_then_sealed_again(
    store: UserStore, redis_server: Any, redis_client: redis.Redis
) -> None:
    uid = store.create_with_identity(identity("google", "g-1", "Alice"))
    raw = redis.Redis.from_url(redis_server.url)
    raw.hset(keys.profile(uid), "sealed", b"\x80\x04\x95 not ours")
    raw.close()
    assert store.get(uid) is None
    store.refresh_identity(uid, identity("google", "g-1", "Alice"))
    user = store.get(uid)
    assert user is not None and user.name == "Alice"


def test_a_retired_key_encryption_key_rewrites_nothing(
    store: UserStore, redis_client: redis.Redis
) -> None:
    uid = store.create_with_identity(identity("google", "g-1", "Alice"))
    profile = keys.profile(uid)
    wrapped = str(redis_client.hget(profile, "dk"))
    unknown = "v-gone:" + wrapped.partition(":")[2]
    redis_client.hset(profile, "dk", unknown)
    before = redis_client.hgetall(profile), redis_client.hgetall(keys.identities(uid))
    assert store.get(uid) is None
    with pytest.raises(KeyRetired):
        store.refresh_identity(uid, identity("google", "g-1", "Alice"))
    after = redis_client.hgetall(profile), redis_client.hgetall(keys.identities(uid))
    assert after == before

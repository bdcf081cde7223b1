"""Users whose sealed profile no longer opens: unknown until their next sign-in seals it again.

A profile's data key, its sealed display fields and each sealed identity are bound to the
user (gateway.crypto.vault); whatever of them is altered, moved or gone is never read.
`get` then answers None (the user is signed out, nothing of them is shown), and the next
sign-in through the identity's own lookup key replaces what does not open. A key-encryption
key missing from the ring is configuration, not damage: nothing is rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from typing import Any, cast

import pytest
import redis

from gateway.crypto.keyring import KeyRetired, KeyRing, new_key_entry
from gateway.crypto.vault import Vault
from gateway.storage import keys
from gateway.storage.redis_client import connect
from gateway.storage.users import IdentityTaken, LinkedIdentity, UserStore

SECRET = "a-test-secret-key-of-at-least-32-characters"  # pragma: allowlist secret


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
    return UserStore(redis_client, Vault(KeyRing.parse(new_key_entry("v1"))), SECRET)


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


# -- key names that do not let a Redis reader test a subject ----------------------------------
def old_hash(subject: str) -> str:
    """How key names were made before they were keyed: plain SHA-256 of the subject."""
    return hashlib.sha256(subject.encode()).hexdigest()


def make_legacy(client: redis.Redis, uid: str, provider: str, subject: str) -> str:
    """Rename a user's lookup key, index entry and identity field to the unkeyed names the
    gateway wrote before (gw:ident:<provider>:<sha256>, "<provider>|<sha256>")."""
    keyed = keys.identity_lookup(provider, keys.subject_digest(keys.subject_key(SECRET), subject))
    legacy = f"gw:ident:{provider}:{old_hash(subject)}"
    assert client.get(keyed) == uid
    client.set(legacy, uid)
    client.delete(keyed)
    client.srem(keys.user_index(uid), keyed)
    client.sadd(keys.user_index(uid), legacy)
    field = f"{provider}|{keys.subject_digest(keys.subject_key(SECRET), subject)}"
    sealed = client.hget(keys.identities(uid), field)
    assert sealed is not None
    client.hdel(keys.identities(uid), field)
    client.hset(keys.identities(uid), f"{provider}|{old_hash(subject)}", sealed)
    return legacy


def names_of(client: redis.Redis, uid: str) -> tuple[set[str], set[str], set[str]]:
    lookups = {str(k) for k in client.scan_iter("gw:ident:*")}
    fields = {str(f) for f in client.hkeys(keys.identities(uid))}
    index = {str(k) for k in client.smembers(keys.user_index(uid))}
    return lookups, fields, index


def test_names_cannot_be_computed_from_a_subject_without_the_key(
    store: UserStore, redis_client: redis.Redis
) -> None:
    uid = store.create_with_identity(identity("google", "108-alice", "Alice"))
    store.link(uid, identity("microsoft", "tid:oid", "Alice M"))
    lookups, fields, index = names_of(redis_client, uid)
    assert len(lookups) == 2 and len(fields) == 2
    for subject in ("108-alice", "tid:oid"):
        for name in (*lookups, *fields, *index):
            assert old_hash(subject) not in name and subject not in name
    # The names depend on the secret: the same subject under another key is another name.
    other = UserStore(redis_client, store.vault, "another-secret-key-of-32-characters-or-more")
    assert other.owner_of("google", "108-alice") is None
    assert store.owner_of("google", "108-alice") == uid
    expected = hmac_hex(keys.subject_key(SECRET), "108-alice")
    assert lookups == {
        f"gw:ident:google:{expected}",
        f"gw:ident:microsoft:{hmac_hex(keys.subject_key(SECRET), 'tid:oid')}",
    }


def hmac_hex(key: bytes, subject: str) -> str:
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()


def test_a_lookup_and_fields_named_the_old_way_are_found_and_moved(
    store: UserStore, redis_client: redis.Redis
) -> None:
    uid = store.create_with_identity(identity("google", "108-alice", "Alice", 100.0))
    store.link(uid, identity("microsoft", "tid:oid", "Alice M", 200.0))
    keyed_names = names_of(redis_client, uid)
    legacy = make_legacy(redis_client, uid, "google", "108-alice")
    make_legacy(redis_client, uid, "microsoft", "tid:oid")
    assert names_of(redis_client, uid) != keyed_names

    # Reading the user opens identities under old field names and renames them.
    user = store.get(uid)
    assert user is not None and [i.subject for i in user.identities] == ["108-alice", "tid:oid"]
    assert names_of(redis_client, uid)[1] == keyed_names[1]
    # The lookup is found under its old name and moved to the keyed one, index included.
    assert store.owner_of("google", "108-alice") == uid
    assert redis_client.exists(legacy) == 0
    lookups, _, index = names_of(redis_client, uid)
    assert f"gw:ident:google:{hmac_hex(keys.subject_key(SECRET), '108-alice')}" in lookups
    assert legacy not in index and f"gw:ident:microsoft:{old_hash('tid:oid')}" in index
    # Signing in (refresh) moves what is left; linking finds the moved owner.
    store.refresh_identity(uid, identity("microsoft", "tid:oid", "Alice M"))
    assert store.owner_of("microsoft", "tid:oid") == uid
    assert names_of(redis_client, uid) == keyed_names
    assert store.create_with_identity(identity("google", "108-alice", "Alice")) == uid


def test_a_new_identity_never_takes_an_old_named_lookup(
    store: UserStore, redis_client: redis.Redis
) -> None:
    """create and link look at the old name first: no second user, no stolen identity."""
    alice = store.create_with_identity(identity("google", "108-alice", "Alice"))
    make_legacy(redis_client, alice, "google", "108-alice")
    bob = store.create_with_identity(identity("google", "108-bob", "Bob"))
    make_legacy(redis_client, bob, "google", "108-bob")
    assert store.create_with_identity(identity("google", "108-alice", "Alice")) == alice
    with pytest.raises(IdentityTaken):
        store.link(alice, identity("google", "108-bob", "Bob"))
    assert store.owner_of("google", "108-bob") == bob


def test_many_processes_moving_one_old_name_agree(
    store: UserStore, redis_client: redis.Redis, redis_server: Any
) -> None:
    uid = store.create_with_identity(identity("google", "108-alice", "Alice"))
    make_legacy(redis_client, uid, "google", "108-alice")
    stores = [UserStore(connect(redis_server.url), store.vault, SECRET) for _ in range(8)]
    start, found = threading.Barrier(len(stores)), []

    def look(each: UserStore) -> None:
        start.wait()
        found.append(each.owner_of("google", "108-alice"))

    threads = [threading.Thread(target=look, args=(each,)) for each in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [uid] * len(stores)
    lookups, _, index = names_of(redis_client, uid)
    keyed = f"gw:ident:google:{hmac_hex(keys.subject_key(SECRET), '108-alice')}"
    assert lookups == {keyed} and keyed in index
    assert not any(old_hash("108-alice") in name for name in index)


def test_a_lookup_that_missed_the_keyed_name_while_another_process_moved_it_finds_it(
    store: UserStore, redis_client: redis.Redis, redis_server: Any
) -> None:
    """The interleaving the threads above hit now and then: this process read the keyed
    name (absent), another moved the old name (keyed written, old deleted), and only then
    does this one read the old name. It must find the user, not start a second account."""
    uid = store.create_with_identity(identity("google", "108-alice", "Alice"))
    make_legacy(redis_client, uid, "google", "108-alice")
    other = UserStore(connect(redis_server.url), store.vault, SECRET)
    assert other.owner_of("google", "108-alice") == uid  # the other process moves it
    lookup = f"gw:ident:google:{hmac_hex(keys.subject_key(SECRET), '108-alice')}"
    assert store._move_lookup("google", "108-alice", lookup) == uid


def test_an_old_name_of_an_erased_user_is_not_moved(
    store: UserStore, redis_client: redis.Redis
) -> None:
    redis_client.set(f"gw:ident:google:{old_hash('108-gone')}", "gone-user")
    assert store.owner_of("google", "108-gone") is None
    assert list(redis_client.scan_iter("gw:*")) == []


def test_one_pass_moves_the_old_names_of_people_who_do_not_sign_in_again(
    store: UserStore, redis_client: redis.Redis
) -> None:
    alice = store.create_with_identity(identity("google", "108-alice", "Alice"))
    store.link(alice, identity("microsoft", "tid:oid", "Alice M"))
    bob = store.create_with_identity(identity("google", "108-bob", "Bob"))
    keyed = names_of(redis_client, alice), names_of(redis_client, bob)
    make_legacy(redis_client, alice, "google", "108-alice")
    make_legacy(redis_client, alice, "microsoft", "tid:oid")
    make_legacy(redis_client, bob, "google", "108-bob")

    assert store.move_legacy_names() == 3
    assert (names_of(redis_client, alice), names_of(redis_client, bob)) == keyed
    assert store.move_legacy_names() == 0


def test_ids_lists_every_user_with_a_profile_and_nothing_else(
    store: UserStore, redis_client: redis.Redis
) -> None:
    alice = store.create_with_identity(identity("google", "g-ids-1", "Alice"))
    bob = store.create_with_identity(identity("microsoft", "t:o-ids", "Bob"))
    assert store.ids() == sorted([alice, bob])
    redis_client.delete(keys.profile(bob))  # an erased user's profile is gone
    assert store.ids() == [alice]


def test_creating_after_a_lookup_said_none_still_loses_a_race_to_the_first_sign_in(
    store: UserStore, redis_client: redis.Redis
) -> None:
    """Sign-in asks owner_of once and then creates without asking again (issue 17: three
    GETs fewer per new person); the SET NX on the lookup still decides a race: a second
    sign-in of the same identity that also saw none gets the first one's user, and no
    second user is made."""
    first = store.create_with_identity(identity("google", "g-race", "Alice"), asked=True)
    second = store.create_with_identity(identity("google", "g-race", "Alice"), asked=True)
    assert second == first
    assert store.owner_of("google", "g-race") == first
    assert store.ids() == [first]


def commands_sent(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT (this test's server, no one else's)."""
    stats = client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}
    return {name: n for name, n in calls.items() if not name.startswith("config")}


def test_a_person_never_seen_is_asked_of_redis_in_one_command(
    store: UserStore, redis_client: redis.Redis
) -> None:
    """A first sign-in's lookup (issue 17): the keyed and the old name in one MGET, read at
    one instant, where it was three GETs (keyed, old, keyed again); known people too."""
    uid = store.create_with_identity(identity("google", "108-alice", "Alice"))
    redis_client.config_resetstat()
    assert store.owner_of("google", "108-nobody") is None
    assert store.owner_of("google", "108-alice") == uid
    assert commands_sent(redis_client) == {"mget": 2}


@pytest.mark.redis_deployments
def test_owners_are_found_by_either_name_on_a_server_and_on_a_cluster(
    store: UserStore, redis_client: redis.Redis
) -> None:
    """On a cluster the two names live on different nodes and are read one after the other;
    what owner_of answers is the same on both deployments."""
    alice = store.create_with_identity(identity("google", "108-alice", "Alice"))
    bob = store.create_with_identity(identity("microsoft", "tid:bob", "Bob"))
    legacy = make_legacy(redis_client, bob, "microsoft", "tid:bob")
    assert store.owner_of("google", "108-nobody") is None
    assert store.owner_of("google", "108-alice") == alice
    assert store.owner_of("microsoft", "tid:bob") == bob
    assert redis_client.exists(legacy) == 0
    assert store.create_with_identity(identity("google", "108-carol", "Carol"), asked=True) not in (
        alice,
        bob,
    )

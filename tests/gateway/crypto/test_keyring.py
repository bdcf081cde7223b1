"""Envelope encryption: a ciphertext opens only under its own key and its own owner."""

from __future__ import annotations

import pytest

from gateway.crypto.keyring import (
    DecryptionFailed,
    KeyRetired,
    KeyRing,
    KeyRingError,
    decrypt,
    encrypt,
    new_data_key,
    new_key_entry,
)

OWNER = "user:u1|google|grant:g1"


def ring(*versions: str) -> KeyRing:
    return KeyRing.parse(",".join(new_key_entry(v) for v in versions))


def test_data_round_trips_under_its_owner() -> None:
    key = new_data_key()
    sealed = encrypt(key, b"refresh-token-1", OWNER)
    assert b"refresh-token-1" not in sealed.encode()
    assert decrypt(key, sealed, OWNER) == b"refresh-token-1"


def test_a_ciphertext_moved_to_another_owner_does_not_decrypt() -> None:
    key = new_data_key()
    sealed = encrypt(key, b"refresh-token-1", OWNER)
    with pytest.raises(DecryptionFailed):
        decrypt(key, sealed, "user:u2|google|grant:g1")
    with pytest.raises(DecryptionFailed):
        decrypt(new_data_key(), sealed, OWNER)


def test_a_wrapped_key_names_the_newest_version_and_unwraps_after_rotation() -> None:
    old = ring("v1")
    data_key = new_data_key()
    wrapped = old.wrap(data_key, OWNER)
    assert wrapped.startswith("v1:")
    rotated = KeyRing.parse(new_key_entry("v2") + "," + old.describe())
    assert rotated.newest == "v2"
    assert rotated.unwrap(wrapped, OWNER) == data_key
    assert rotated.wrap(data_key, OWNER).startswith("v2:")


def test_a_retired_version_cannot_unwrap() -> None:
    wrapped = ring("v1").wrap(new_data_key(), OWNER)
    with pytest.raises(KeyRetired):
        ring("v2").unwrap(wrapped, OWNER)


def test_a_wrapped_key_is_bound_to_its_owner() -> None:
    keys = ring("v1")
    wrapped = keys.wrap(new_data_key(), OWNER)
    with pytest.raises(DecryptionFailed):
        keys.unwrap(wrapped, "user:u2|google|grant:g1")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "is missing"),
        ("nocolon", "must be 'version:base64key'"),
        ("v 1:AAAA", "must be 'version:base64key'"),
        ("v1:@@@@", "not valid base64"),
        ("v1:AAAA", "must decode to 32 bytes"),
    ],
)
def test_malformed_rings_are_named(raw: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.parse(raw)


def test_a_version_may_appear_once() -> None:
    entry = new_key_entry("v1")
    with pytest.raises(KeyRingError, match="appears twice"):
        KeyRing.parse(f"{entry},{entry}")


def test_the_ring_never_shows_its_keys() -> None:
    keys = ring("v1")
    assert keys.describe().split(":")[1] not in repr(keys)

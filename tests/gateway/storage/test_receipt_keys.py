"""The receipt signing keys in a real Redis: one per deployment, made once however many
processes ask at the same time, sealed (no private key in Redis in the clear), and every
key ever used still published after a rotation."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest
import redis

from gateway.crypto.keyring import KeyRing, new_key_entry
from gateway.crypto.receipt_keys import KeysInMemory, KeyUnavailable
from gateway.crypto.receipts import ReceiptInvalid, ReceiptSigner
from gateway.crypto.vault import Vault
from gateway.storage import keys
from gateway.storage.embedded import EmbeddedRedis
from gateway.storage.receipt_keys import ReceiptKeyStore
from gateway.storage.stable_secrets import StableSecrets

RING = new_key_entry("v1")
SECRET = "a-test-secret-key-of-at-least-32-characters"  # pragma: allowlist secret


def a_process(client: redis.Redis) -> ReceiptKeyStore:
    """What one gateway process builds: its own objects, the shared Redis."""
    return ReceiptKeyStore(client, StableSecrets(client, Vault(KeyRing.parse(RING))))


def test_processes_starting_together_agree_on_one_key(redis_client: redis.Redis) -> None:
    stores = [a_process(redis_client) for _ in range(8)]
    found: list[tuple[str, bytes]] = []
    start = threading.Barrier(len(stores))

    def first_receipt(store: ReceiptKeyStore) -> None:
        start.wait()
        key = store.signing_key()
        found.append((key.kid, key.private))

    threads = [threading.Thread(target=first_receipt, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(found) == len(stores) and len(set(found)) == 1
    (kid,) = {kid for kid, _ in found}
    assert [k["kid"] for k in a_process(redis_client).public_keys()] == [kid]


def test_a_receipt_signed_by_one_process_verifies_in_another(redis_client: redis.Redis) -> None:
    one = ReceiptSigner(SECRET, a_process(redis_client))
    other = ReceiptSigner(SECRET, a_process(redis_client))
    receipt = one.sign({"receipt": "r1", "kind": "test"})
    assert other.verify(receipt) == {"receipt": "r1", "kind": "test"}
    with pytest.raises(ReceiptInvalid):
        ReceiptSigner(SECRET, KeysInMemory(receipt["signature"]["kid"])).verify(receipt)


def test_the_private_key_is_sealed(redis_client: redis.Redis) -> None:
    key = a_process(redis_client).signing_key()
    stored = repr(redis_client.hgetall(keys.STABLE_SECRETS)) + repr(
        redis_client.hgetall(keys.RECEIPT_KEYS)
    )
    for encoding in (base64.b64encode, base64.urlsafe_b64encode):
        assert encoding(key.private).decode().rstrip("=") not in stored
    assert key.private.hex() not in stored
    assert key.kid in stored  # the id is public


def test_a_rotation_signs_with_the_new_key_and_keeps_the_old_published(
    redis_client: redis.Redis,
) -> None:
    running = ReceiptSigner(SECRET, a_process(redis_client))
    old = running.sign({"receipt": "old"})
    new_kid = a_process(redis_client).rotate()  # the CLI, another process
    new = running.sign({"receipt": "new"})  # this process follows at its next receipt
    assert new["signature"]["kid"] == new_kid != old["signature"]["kid"]
    later = ReceiptSigner(SECRET, a_process(redis_client))
    assert later.verify(old) == {"receipt": "old"} and later.verify(new) == {"receipt": "new"}
    published = [k["kid"] for k in later.keys.public_keys()]
    assert published == [old["signature"]["kid"], new_kid]


def test_a_key_listed_but_never_stored_is_not_published(redis_client: redis.Redis) -> None:
    store = a_process(redis_client)
    kid = store.signing_key().kid
    redis_client.hset(keys.RECEIPT_KEYS, "kid:died-before-storing", "1")
    assert [k["kid"] for k in store.public_keys()] == [kid]


def test_redis_at_its_memory_limit_falls_back_to_hmac(own_redis: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    client.config_set("maxmemory", "1")
    client.config_set("maxmemory-policy", "noeviction")
    try:
        store = a_process(client)
        with pytest.raises(KeyUnavailable):
            store.signing_key()
        signer = ReceiptSigner(SECRET, store)
        receipt = signer.sign({"receipt": "at-the-limit"})
        assert receipt["signature"]["alg"] == "HS256"
        assert signer.verify(receipt) == {"receipt": "at-the-limit"}
    finally:
        client.config_set("maxmemory", "0")
        client.close()


def test_a_key_ring_rotation_and_retirement_keeps_the_receipt_keys(
    make_env: Any, build_gateway: Any
) -> None:
    """The receipt keys are sealed under the stable secrets' data key, which `keys rotate`
    re-wraps: after the old ring version is retired, a new gateway still signs with the same
    key and verifies what was signed before."""
    v1 = make_env()["GATEWAY_ENCRYPTION_KEYS"]
    before = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=v1)).extensions["gateway"]
    receipt = before.revocation.signer.sign({"receipt": "before-rotation"})
    ring = f"{new_key_entry('v2')},{v1}"
    rotating = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=ring)).extensions["gateway"]
    rotating.key_rotation.rotate("test")
    rotating.key_rotation.retire("v1", "test")
    v2_only = ring.split(",")[0]  # v1 retired: gone from the configuration too
    after = build_gateway(make_env(GATEWAY_ENCRYPTION_KEYS=v2_only))
    found = after.extensions["gateway"]
    assert found.revocation.signer.verify(receipt) == {"receipt": "before-rotation"}
    assert found.revocation.signer.sign({})["signature"]["kid"] == receipt["signature"]["kid"]

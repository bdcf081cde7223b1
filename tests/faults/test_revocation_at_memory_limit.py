"""A revocation at Redis's memory limit (`maxmemory` reached, `noeviction`): the destroy
happens at once, and the rest is finished by the gateway, not by a retry of the person.

A redis-server of the test's own: a host with a bound room and a warm free/busy cache, then
filler keys and `CONFIG SET maxmemory` below what is used, so Redis refuses every command
that may grow memory. The host disconnects the grant over HTTP (the real blueprint,
service and storage). Then: the wrapped key, tokens, subject, lock and cached days are
gone and Google's revoke endpoint was called once; the rest (status, binding, receipt,
audit entry) is not written yet. Once the limit is raised, the gateway's own background
thread finishes it without anyone asking again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.services.revocation_receipt import Ending
from gateway.storage import keys
from gateway.storage.audit import AUDIT
from gateway.storage.embedded import EmbeddedRedis
from gateway.storage.grants import REVOKED, UNFINISHED
from gateway.storage.redis_client import connect
from tests.faults.support import keys_of_grant, measured, secrets_left
from tests.hosts import Hosts
from tests.security.support import csrf_token

FILLER = 400  # keys of 8 KiB: ~3 MiB the deletes cannot free
WITHIN = 30.0  # the background thread polls every GATEWAY_DISK_SCRUB_SECONDS / 20 (0.2 s)


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], aof_redis: EmbeddedRedis) -> dict[str, str]:
    return {**gateway_env, "GATEWAY_REDIS_URL": aof_redis.url, "GATEWAY_DISK_SCRUB_SECONDS": "4"}


@pytest.fixture
def store(aof_redis: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = connect(aof_redis.url)
    yield client
    client.config_set("maxmemory", "0")
    client.close()


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def on_disk(folder: Path, traces: list[str]) -> list[str]:
    blobs = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    return [t for t in traces if any(t.encode() in blob for blob in blobs)]


def fill(store: redis.Redis) -> None:
    for index in range(FILLER):
        store.set(f"gw:filler:{index}", "x" * 8192)
    used = int(store.info("memory")["used_memory"])
    store.config_set("maxmemory-policy", "noeviction")
    store.config_set("maxmemory", str(used - 1024 * 1024))
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        store.set("gw:probe", "x")


def test_a_disconnect_at_the_memory_limit_destroys_at_once_and_finishes_by_itself(
    app: Flask, hosts: Hosts, another_browser: Any, store: redis.Redis, aof_redis: EmbeddedRedis
) -> None:
    services = app.extensions["gateway"]
    uid, gid, room = hosts.hosted_room("google", "atlas")
    hosts.emulator.client.add_event(
        "alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z"
    )
    assert hosts.status(room) == "ok"  # a warm cache to destroy
    assert keys_of_grant(store, uid, gid), "nothing cached: the test would prove nothing"
    browser = another_browser()
    browser.complete("google", "alice@example.com")
    token = csrf_token(browser.client)
    revokes_before = hosts.calls("google.revoke")
    sealed = [str(v) for v in store.hmget(keys.grant(uid, gid), ["dk", "tokens", "subject"])]
    written = time.monotonic()  # appendfsync everysec: wait for the bytes to reach the AOF
    while len(on_disk(aof_redis.data_dir, sealed)) < len(sealed):
        assert time.monotonic() < written + WITHIN, "the grant never reached the AOF"
        time.sleep(0.1)

    fill(store)
    answer = browser.client.post(f"/account/grants/{gid}/disconnect", data={"csrf_token": token})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    # destroyed at once, at the limit
    assert secrets_left(store, uid, gid) == []
    assert keys_of_grant(store, uid, gid) == []
    assert hosts.calls("google.revoke") == revokes_before + 1
    assert services.grants.tokens_if_readable(uid, gid) is None
    assert hosts.status(room) == "unknown"
    # what needs a write has waited (the limit still holds)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        store.set("gw:probe", "x")
    assert services.revocation.receipts(uid) == []
    # ... and the sealed bytes leave the disk all the same (BGREWRITEAOF runs at the limit)
    acknowledged = time.monotonic()
    while left := on_disk(aof_redis.data_dir, sealed):
        assert time.monotonic() < acknowledged + WITHIN, f"still on disk: {left}"
        time.sleep(0.1)
    off_disk = time.monotonic() - acknowledged
    waiting = f"status {store.hget(keys.grant(uid, gid), 'status')}, binding kept"

    store.config_set("maxmemory", "0")  # the operator raises the limit
    raised = time.monotonic()
    while not services.revocation.receipts(uid):
        assert time.monotonic() < raised + WITHIN, "the gateway did not finish the revocation"
        time.sleep(0.1)
    finished = time.monotonic() - raised
    assert store.hget(keys.grant(uid, gid), "status") == REVOKED
    assert services.rooms.store.pointer(room) is None  # unbound, not just hidden
    (receipt,) = services.revocation.receipts(uid)
    services.revocation.signer.verify(receipt)
    assert receipt["provider_revocation"] == "revoked at provider"
    assert receipt["deleted"]["bindings"] == 1
    assert receipt["deleted"]["cached_entries"] >= 1
    assert "pending" not in receipt
    assert receipt["disk"]["request"] is not None  # recorded once Redis took writes again
    (entry,) = services.audit.entries(subject=uid, action="grant.revoke")
    assert entry.actor == services.audit.pseudonym(uid)
    assert hosts.calls("google.revoke") == revokes_before + 1  # the provider told once
    page = browser.client.get("/account").get_data(as_text=True)
    assert f'id="disconnect-{gid}"' not in page  # shown as revoked, no button left
    measured(
        f"item 18: disconnect at the memory limit answered 303 with secrets, lock and cache "
        f"gone at once, off disk {off_disk:.2f} s later at the limit ({waiting} until the "
        f"limit was raised); finished by the gateway "
        f"{finished:.2f} s after the limit was raised, no retry by the person"
    )


def test_an_unfinished_revocation_of_a_person_erased_meanwhile_recreates_nothing(
    app: Flask, hosts: Hosts, store: redis.Redis
) -> None:
    """A revocation left unfinished at the memory limit, then its owner erased (their keys
    all gone): finishing it must not write a grant, receipt or audit entry back for them,
    and the record of it leaves Redis."""
    uid, gid, _ = hosts.hosted_room("google", "atlas")
    services = app.extensions["gateway"]
    services.disk_scrub.stop()  # this test runs the retry itself
    ending = Ending(
        uid=uid, gid=gid, reason="Disconnected by you.", actor=uid, forget=False,
        provider="google", purpose="room-availability", had_tokens=True,
        provider_result="revoked at provider", cached=0, disk=None, receipt_id="r", at=1.0,
    )  # fmt: skip
    services.grants.store.keep_unfinished(uid, gid, ending.to_json())
    services.privacy.erase(uid, actor=uid)
    audit_before = store.xlen(AUDIT)

    assert services.revocation.finish_unfinished() == 0
    assert [k for k in store.scan_iter(f"{keys.user_tag(uid)}*")] == []
    assert store.exists(UNFINISHED) == 0
    assert store.xlen(AUDIT) == audit_before

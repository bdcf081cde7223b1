"""T16 under a crash: a gateway process SIGKILLed mid-revocation, then the admin's retry.

tests/gateway/services/test_privacy.py::test_a_crash_mid_revocation_completes_on_retry
covers the in-process variant (an exception raised by the first unbind hook, after the
destroy). Here a real second process (tests/faults/revoke_worker.py, the same GATEWAY_*
settings on the same redis-server and emulator) revokes the grant and is SIGKILLed:

    provider        while it waits on Google's revoke endpoint (the emulator's slow answer)
    after-provider  after the provider answered, before anything here is destroyed
    after-destroy   after the destroy, before the room is unbound

Then the admin revokes again over HTTP in the test process, and the retry completes: SCAN
finds 0 keys of the grant, no secret is left in its record, the room is unbound, exactly one
receipt and one audit entry exist, the provider's revoke endpoint was called (emulator
count) and the refresh token is dead there, and free/busy never comes back for the room.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from flask import Flask

from connectors.errors import GrantInvalid
from gateway.storage import keys
from gateway.storage.grants import ACTIVE, REVOKED
from tests.faults.support import keys_of_grant, measured, secrets_left
from tests.hosts import FREEBUSY, Hosts
from tests.security.support import csrf_token, signed_in_uid

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("revoke_worker.py")
BOB = "bob@example.com"
REACH_SECONDS = 20.0  # the worker imports the gateway and builds the app first
PROVIDER_DELAY_MS = 8000  # the emulator's slow revoke answer: below the 10 s read timeout
POINTS = ["provider", "after-provider", "after-destroy"]


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], emulator: Any) -> dict[str, str]:
    """The shared settings, with Bob as the admin (for the retry over HTTP)."""
    bob = next(a["subject"] for a in emulator.client.accounts() if a["email"] == BOB)
    return {**gateway_env, "GATEWAY_ADMINS": f"google:{bob}"}


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def read_line(stream: IO[str], deadline: float) -> str:
    """The worker's next stdout line (blocking read; the deadline is the worker's own
    one-minute limit plus the test's timeout)."""
    line = stream.readline().strip()
    assert time.monotonic() < deadline, f"the worker took too long ({line!r})"
    return line


def wait_for_provider_call(hosts: Hosts, before: int, deadline: float) -> None:
    while hosts.calls("google.revoke") == before:
        assert time.monotonic() < deadline, "the worker never reached the provider"
        time.sleep(0.01)


@pytest.mark.parametrize("point", POINTS)
def test_a_worker_killed_mid_revocation_is_completed_by_the_retry(
    point: str,
    app: Flask,
    hosts: Hosts,
    another_browser: Any,
    gateway_env: dict[str, str],
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    services = app.extensions["gateway"]
    emulator = hosts.emulator.client
    uid, gid, room = hosts.hosted_room("google", "atlas")
    emulator.add_event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert hosts.status(room) == "ok"  # a warm cache, a lock and an index to destroy
    tokens = services.grants.tokens_if_readable(uid, gid)
    assert tokens is not None and tokens.refresh_token
    keys_before = keys_of_grant(redis_client, uid, gid)
    assert keys_before, "nothing cached: the test would prove nothing"
    admin = another_browser()
    admin.complete("google", BOB)
    admin_uid = signed_in_uid(admin.client)

    revokes_before = hosts.calls("google.revoke")
    if point == "provider":
        emulator.fault("google.revoke", delay_ms=PROVIDER_DELAY_MS)
    started = time.monotonic()
    log = tmp_path / "worker.log"
    with (
        log.open("w") as errors,
        subprocess.Popen(
            [sys.executable, str(WORKER), uid, gid, admin_uid, point],
            cwd=ROOT,
            env={**os.environ, "WORKER_ENV": json.dumps(gateway_env), "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as worker,
    ):
        try:
            assert worker.stdout is not None
            deadline = started + REACH_SECONDS
            assert read_line(worker.stdout, deadline) == "READY", log.read_text()
            if point == "provider":
                wait_for_provider_call(hosts, revokes_before, deadline)
            else:
                assert read_line(worker.stdout, deadline) == f"AT {point}", log.read_text()
            reached = time.monotonic() - started
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        assert worker.returncode == -signal.SIGKILL
        assert "FINISHED" not in worker.stdout.read()

    # what the crash left: a grant that is either whole or already shredded, never a mix
    grant_key = keys.grant(uid, gid)
    status = str(redis_client.hget(grant_key, "status"))
    left = secrets_left(redis_client, uid, gid)
    if point == "after-destroy":
        assert (status, left) == (REVOKED, [])
        assert keys_of_grant(redis_client, uid, gid) == []
        assert hosts.status(room) == "needs_reconnect"  # still bound, nothing is served
    else:
        assert (status, sorted(left)) == (ACTIVE, ["dk", "subject", "tokens"])
    provider_result = redis_client.hget(grant_key, "provider_result")
    if point == "provider":
        assert provider_result is None  # killed while waiting: nothing noted yet
    else:
        assert provider_result == "revoked at provider"
    # the crash came before the unbind: the stored binding is there (binding() hides it as
    # soon as the grant is unusable)
    assert services.rooms.store.pointer(room) == (uid, gid)
    assert services.revocation.receipts(uid) == []  # ... and before receipt and audit
    assert services.audit.entries(subject=uid, action="grant.revoke") == []
    # Until the retry the room answers from what is left: the warm cache while the tokens
    # are here (reported, not a criterion). Asking now also leaves this process with a
    # recent answer in memory, which the retry must make stale (checked at the end).
    crash_state = f"status={status}, secrets={len(left)}, room answers {hosts.status(room)!r}"

    # the admin revokes again
    retry_started = time.monotonic()
    answer = admin.client.post(
        f"/admin/users/{uid}/grants/{gid}/revoke",
        data={"reason": "retry after a crash", "csrf_token": csrf_token(admin.client)},
    )
    retry_seconds = time.monotonic() - retry_started
    assert answer.status_code == 200, answer.get_data(as_text=True)

    assert keys_of_grant(redis_client, uid, gid) == []
    assert secrets_left(redis_client, uid, gid) == []
    assert redis_client.hget(grant_key, "status") == REVOKED
    assert services.rooms.store.pointer(room) is None  # unbound, not just hidden
    assert services.rooms.store.load_binding(uid, room) is None
    (receipt,) = services.revocation.receipts(uid)
    services.revocation.signer.verify(receipt)
    assert receipt["grant"] == gid
    assert receipt["provider_revocation"] == "revoked at provider"
    assert receipt["deleted"]["bindings"] == 1
    (entry,) = services.audit.entries(subject=uid, action="grant.revoke")
    assert entry.actor == services.audit.pseudonym(admin_uid)
    # the provider: called by the worker (provider, after-provider) and by the retry when
    # the tokens were still here; either way the refresh token is dead there
    revokes = hosts.calls("google.revoke") - revokes_before
    assert revokes == (1 if point == "after-destroy" else 2)
    with pytest.raises(GrantInvalid):
        services.signin.connectors["google"].refresh(tokens, (FREEBUSY,))

    # nothing comes back: no free/busy (not even an answer this process remembers from
    # before the retry), no keys after a query, no readable tokens
    assert hosts.status(room) == "unbound"  # the retry removed the binding
    assert keys_of_grant(redis_client, uid, gid) == []
    assert services.grants.tokens_if_readable(uid, gid) is None
    measured(
        f"T16 crash at {point}: worker SIGKILLed {reached:.2f} s after start; left "
        f"{crash_state}; admin retry {retry_seconds * 1000:.0f} ms; keys of the grant "
        f"{len(keys_before)} -> 0; provider revoke calls {revokes}; 1 receipt, 1 audit entry"
    )

"""Every write that ends a grant moves the answers' generation after it commits, and the
writer waits out the lease before it answers: workers remember which grants are active
under that generation (services/freebusy_cached_days.py), so a write that did not bump
would leave an ended grant taken for active by other workers.

Two halves: the source names every write of a grant's status or removal of its record
(a new one fails here until it is added and shown to bump), and the real commands, seen
with Redis MONITOR, show the bump after each of them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.storage import answers, grant_scripts, keys
from gateway.storage.grants import ACTIVE, REVOKED, GrantStore
from tests.hosts import Hosts

ROOT = Path(__file__).resolve().parents[3]
END_OF_WATCH = "end-of-watch"
NEEDS_RECONNECT = "needs_reconnect"


def status_writes() -> set[str]:
    """file:function of every write of a grant's `status`, or removal of its record, in
    Python (only gateway/storage/ speaks Redis: tests/gateway/test_layers.py)."""
    found = set()
    for path in sorted((ROOT / "gateway" / "storage").rglob("*.py")):
        function = ""
        for line in path.read_text().splitlines():
            if m := re.match(r"\s*def (\w+)", line):
                function = m.group(1)
            if re.search(r"""["']status["']\s*:|delete\(keys\.grant\(""", line):
                found.add(f"{path.relative_to(ROOT)}:{function}")
    return found


def test_the_writes_of_a_grants_status_are_the_known_ones() -> None:
    assert status_writes() == {
        "gateway/storage/grants.py:create",  # a new grant: nobody knew it before
        "gateway/storage/grants.py:mark_ended",  # purge, revocation: shown below
        "gateway/storage/receipts.py:file",  # a revoked grant's record: no longer active
    }
    scripts = "\n".join(p.read_text() for p in (ROOT / "gateway" / "storage").rglob("*.py"))
    assert not re.search(r"HSET'?,[^\n]*'status'", scripts)  # no script writes a status
    # the one script that deletes a grant's record, run by `shred` alone (purge, below)
    assert "redis.call('DEL', KEYS[1])" in grant_scripts.SHRED
    assert scripts.count("grant_scripts.SHRED") == 1
    callers = {
        f"{path.relative_to(ROOT)}"
        for path in (ROOT / "gateway").rglob("*.py")
        if ".mark_ended(" in path.read_text() or ".shred(" in path.read_text()
    }
    assert callers == {"gateway/storage/grants.py", "gateway/services/revocation.py"}


@contextmanager
def commands(client: redis.Redis) -> Iterator[list[str]]:
    """Every command Redis runs meanwhile (scripts' own commands included), in order."""
    seen: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                seen.append(command["command"])
                if END_OF_WATCH in command["command"]:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait()
    client.echo("start")  # MONITOR is on once its first command shows
    try:
        yield seen
    finally:
        client.echo(END_OF_WATCH)
        watcher.join(timeout=10)


def bumped_after(seen: list[str], write: str) -> bool:
    """Whether the generation was incremented after the first command matching `write`."""
    at = next(n for n, c in enumerate(seen) if re.search(write, c))
    return any(re.match(rf"INCR(BY)? {re.escape(answers.GENERATION)}\b", c) for c in seen[at + 1 :])


def new_grant(store: GrantStore, uid: str) -> str:
    gid = store.new_id()
    store.create(
        uid,
        gid,
        provider="p",
        purpose="rooms",
        scopes=frozenset({"s"}),
        expires_at=0,
        wrapped_key="k",
        sealed_tokens="t",
        sealed_subject="s",
    )
    return gid


@pytest.mark.parametrize("status", [REVOKED, NEEDS_RECONNECT])
@pytest.mark.parametrize("forget", [False, True])
def test_a_purge_bumps_after_its_status_write_and_settles(
    redis_client: redis.Redis, status: str, forget: bool
) -> None:
    store = GrantStore(redis_client)
    gid = new_grant(store, "u1")
    answers.settle()
    with commands(redis_client) as seen:
        store.purge("u1", gid, status=status, reason="test", forget=forget)
    grant = re.escape(keys.grant("u1", gid))
    write = rf"^DEL {grant}$" if forget else rf"^HSET {grant} .*status {status}\b"
    assert bumped_after(seen, write)
    assert answers._this_thread.settle_at > 0  # the writer waits out the lease
    assert redis_client.hget(keys.grant("u1", gid), "status") in ({None} if forget else {status})


@pytest.fixture
def hosts(app: Any, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


@pytest.mark.parametrize("forget", [False, True])
def test_a_revocation_bumps_after_its_status_write_and_settles(
    hosts: Hosts, redis_client: redis.Redis, forget: bool
) -> None:
    uid, gid, _ = hosts.hosted_room("google", "atlas")
    assert redis_client.hget(keys.grant(uid, gid), "status") == ACTIVE
    answers.settle()
    with commands(redis_client) as seen:
        hosts.services.revocation.revoke_grant(
            uid, gid, reason="test", actor="admin", forget=forget
        )
    grant = re.escape(keys.grant(uid, gid))
    assert bumped_after(seen, rf"^HSET {grant} .*status {REVOKED}\b")
    assert answers._this_thread.settle_at > 0

"""A restore of an older Redis backup does not bring erased people or revoked grants back.

The backup is what an operator keeps: a copy of Redis's AOF folder, taken (after a rewrite)
while the people and grants were there. After the erasure and the revocation, Redis is
stopped, its AOF replaced by the copy and started again: the person and the grant are back,
tokens included. `admin replay-erasures --since` reads the tombstone log (kept outside
Redis's folder, as deployed) and destroys them again, tells the provider again, and the
disk scrub takes them off every file of Redis's folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway.services.tombstones import Tombstones
from gateway.storage.embedded import EmbeddedRedis, find_redis_server
from gateway.storage.redis_client import connect
from gateway.storage.tombstones import TombstoneLog
from tests.faults.support import measured
from tests.gateway.services.test_disk_scrub import sealed, wait_off_disk, wait_on_disk
from tests.hosts import Hosts
from tests.security.support import csrf_token

BOUND = 4  # GATEWAY_DISK_SCRUB_SECONDS


@pytest.fixture
def restorable_redis() -> Iterator[EmbeddedRedis]:
    """A Redis with AOF whose socket path is short enough to stay the same across a restart
    (the gateway's client reconnects to the restored server as it would in production)."""
    folder = Path(tempfile.mkdtemp(prefix="gw-restore-", dir="/tmp"))
    server = EmbeddedRedis(folder / "redis", binary=shutil.which("redis-server") or None)
    if server.binary is None:
        server.binary = find_redis_server()
    yield server.start()
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tombstone_dir(tmp_path: Path) -> Path:
    return tmp_path / "tombstones"  # not inside Redis's folder: it must outlive a restore


@pytest.fixture
def gateway_env(
    gateway_env: dict[str, str], restorable_redis: EmbeddedRedis, tombstone_dir: Path
) -> dict[str, str]:
    return {
        **gateway_env,
        "GATEWAY_REDIS_URL": restorable_redis.url,
        "GATEWAY_DISK_SCRUB_SECONDS": str(BOUND),
        "GATEWAY_TOMBSTONE_DIR": str(tombstone_dir),
    }


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def back_up(server: EmbeddedRedis, into: Path) -> None:
    """What a backup job does: rewrite the AOF, wait for it, copy the folder."""
    client = connect(server.url)
    try:
        client.bgrewriteaof()
        deadline = time.time() + 30
        while client.info("persistence")["aof_rewrite_in_progress"] or client.info(
            "persistence"
        ).get("aof_rewrite_scheduled"):
            assert time.time() < deadline, "the AOF rewrite never finished"
            time.sleep(0.05)
    finally:
        client.close()
    shutil.copytree(server.data_dir / "appendonlydir", into)


def restore(server: EmbeddedRedis, backup: Path) -> None:
    server.stop()
    shutil.rmtree(server.data_dir / "appendonlydir")
    shutil.copytree(backup, server.data_dir / "appendonlydir")
    server.start()


def test_a_restored_backup_is_erased_again_by_the_replay(
    app: Flask,
    hosts: Hosts,
    restorable_redis: EmbeddedRedis,
    tombstone_dir: Path,
    tmp_path: Path,
) -> None:
    services = app.extensions["gateway"]
    store = connect(restorable_redis.url)
    erased_uid, erased_gid = hosts.host("google", "alice@example.com")
    revoked_uid, revoked_gid = hosts.host("microsoft", "carol@contoso.example")
    traces = [
        erased_uid,
        *sealed(store, erased_uid, erased_gid),
        *sealed(store, revoked_uid, revoked_gid),
    ]
    backed_up_at = time.time()
    back_up(restorable_redis, tmp_path / "backup")

    erasing = hosts.browsers[erased_uid].client
    assert erasing.delete("/v1/me", headers={"X-CSRFToken": csrf_token(erasing)}).status_code == 200
    disconnecting = hosts.browsers[revoked_uid].client
    disconnected = disconnecting.post(
        f"/account/grants/{revoked_gid}/disconnect",
        data={"csrf_token": csrf_token(disconnecting)},
    )
    assert disconnected.status_code == 303
    kinds = sorted(t["kind"] for t in TombstoneLog(tombstone_dir).read().tombstones)
    assert kinds == ["erasure", "grant-revocation", "grant-revocation"]

    restore(restorable_redis, tmp_path / "backup")
    # what the restore alone does: the person and both grants are back, tokens readable
    assert services.users.get(erased_uid) is not None
    assert services.grants.tokens_if_readable(erased_uid, erased_gid) is not None
    assert services.grants.get(revoked_uid, revoked_gid).status == "active"
    wait_on_disk(restorable_redis.data_dir, traces)

    revokes_before = hosts.emulator.client.calls().get("google.revoke", 0)
    since = datetime.fromtimestamp(backed_up_at - 60, UTC).isoformat()
    result = app.test_cli_runner().invoke(args=["admin", "replay-erasures", "--since", since])
    assert result.exit_code == 0, result.output
    assert "1 erasure(s) and 2 revocation(s) replayed, 0 already applied" in result.output
    replayed_at = time.time()

    assert services.users.get(erased_uid) is None
    assert services.grants.list(erased_uid) == []
    assert services.grants.get(revoked_uid, revoked_gid).status == "revoked"
    assert services.grants.tokens_if_readable(revoked_uid, revoked_gid) is None
    # the restored Google refresh token was told to the provider's revoke endpoint again
    assert hosts.emulator.client.calls()["google.revoke"] == revokes_before + 1
    gone = wait_off_disk(restorable_redis.data_dir, traces, replayed_at + BOUND)
    measured(
        f"restore: an erased person and a revoked grant restored from a backup are gone "
        f"again, off every file of Redis's folder {gone - replayed_at:.2f} s after the replay"
    )

    again = app.test_cli_runner().invoke(args=["admin", "replay-erasures", "--since", since])
    assert "0 erasure(s) and 0 revocation(s) replayed" in again.output
    store.close()


def test_the_replay_needs_a_time_it_can_read(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["admin", "replay-erasures", "--since", "soon"])
    assert result.exit_code == 2
    assert "an ISO date or time" in result.output
    assert "Traceback" not in result.output


# -- the log itself ------------------------------------------------------------------------------


def test_tombstones_are_read_back_since_a_time_oldest_first(tmp_path: Path) -> None:
    log = TombstoneLog(tmp_path / "t")
    for at in (1_764_000_000.0, 1_770_000_000.0, 1_767_000_000.0):  # Nov, Feb, Dec
        log.append({"kind": "erasure", "user": f"u{int(at)}", "at": at, "destroyed": {}})
    assert len(list((tmp_path / "t").glob("tombstones-*.jsonl"))) == 3
    read = log.read(since=1_767_000_000.0)
    assert [t["at"] for t in read.tombstones] == [1_767_000_000.0, 1_770_000_000.0]
    assert read.unreadable == 0
    assert oct((tmp_path / "t").stat().st_mode & 0o777) == "0o700"


def test_a_line_torn_by_a_crash_costs_only_itself(tmp_path: Path) -> None:
    log = TombstoneLog(tmp_path)
    log.append({"kind": "erasure", "user": "first", "at": 1.0e9, "destroyed": {}})
    (path,) = tmp_path.glob("tombstones-*.jsonl")
    with path.open("ab") as file:
        file.write(b'{"kind":"erasure","user":"to')  # the process died mid-line
    log.append({"kind": "erasure", "user": "after", "at": 1.0e9 + 1, "destroyed": {}})
    read = log.read()
    assert [t["user"] for t in read.tombstones] == ["first", "after"]
    assert read.unreadable == 1


def test_a_log_that_cannot_be_written_is_said_loudly_and_the_erasure_stands(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    Tombstones(TombstoneLog(blocked)).user_erased("u1", destroyed={"keys": 3})
    (record,) = [r for r in caplog.records if "tombstone log" in r.getMessage()]
    assert "would bring this erasure back" in record.getMessage()
    assert "u1" not in record.getMessage()


def test_writers_in_many_threads_never_mix_lines(tmp_path: Path) -> None:
    import threading

    log = TombstoneLog(tmp_path)

    def write(n: int) -> None:
        for i in range(50):
            log.append({"kind": "erasure", "user": f"{n}-{i}" * 40, "at": 1.0e9, "destroyed": {}})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    read = log.read()
    assert len(read.tombstones) == 200 and read.unreadable == 0
    assert os.stat(next(tmp_path.glob("*.jsonl"))).st_mode & 0o777 == 0o600


def test_the_retention_sweep_deletes_tombstones_past_the_catalogues_90_days(
    app: Flask, tombstone_dir: Path
) -> None:
    log = app.extensions["gateway"].revocation.tombstones.log
    now = time.time()
    for days in (200, 91, 89, 1):  # the first two are past the catalogue's P90D
        log.append(
            {"kind": "erasure", "user": f"d{days}", "at": now - days * 86400, "destroyed": {}}
        )
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "tombstones deleted 2" in result.output
    assert [t["user"] for t in log.read().tombstones] == ["d89", "d1"]
    assert len(list(tombstone_dir.glob("*.jsonl"))) <= 2  # emptied month files are gone

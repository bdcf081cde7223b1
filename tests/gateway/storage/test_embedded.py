"""The embedded Redis is a real server with AOF on, reachable only by its owner."""

from __future__ import annotations

import stat
from pathlib import Path

from gateway.storage.embedded import EmbeddedRedis
from gateway.storage.redis_client import connect


def test_embedded_redis_keeps_data_across_a_restart(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis") as server:
        client = connect(server.url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        client.set("kept", "yes")
        client.close()
        socket_mode = stat.S_IMODE(Path(server.socket_path).stat().st_mode)
        assert socket_mode & 0o077 == 0

    with EmbeddedRedis(tmp_path / "redis") as server:
        client = connect(server.url)
        assert client.get("kept") == "yes"
        client.close()


def test_stop_ends_the_server(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis").start()
    process = server._process
    server.stop()
    assert process is not None
    assert process.poll() is not None


def test_a_second_start_on_the_folder_shares_the_running_server(tmp_path: Path) -> None:
    """An admin command next to a running gateway: one server, even when the socket lives
    in a temporary folder (a data folder whose path is too long for a unix socket)."""
    folder = tmp_path / ("long-" * 20) / "redis"
    with EmbeddedRedis(folder) as first:
        second = EmbeddedRedis(folder).start()
        assert second.url == first.url
        assert second._process is None
        client = connect(second.url)
        assert client.info("server")["process_id"] == first._process.pid  # type: ignore[union-attr]
        client.close()
        second.stop()
        assert first._process is not None and first._process.poll() is None

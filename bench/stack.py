"""What every benchmark that serves HTTP stands on: a real redis-server, the provider
emulator over HTTPS, the GATEWAY_* settings that join them, and gunicorn with the
production config (deploy/gunicorn.conf.py).

Each benchmark starts its own, so each stays runnable alone (`python -m bench.X`).

The emulator runs in a thread of the benchmark's process by default. `own_process=True`
runs it in a process of its own, under a server that keeps connections alive: a benchmark
that calls the gateway in-process (cold free/busy) otherwise shares one interpreter, and
its GIL, between the gateway's fan-out threads and the emulator's TLS handshakes and
request handling, and pays a new connection per provider call, neither of which a real
provider costs it (README, "Benchmarks": these were the cold row's spread).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start_emulator
from emulator.client import EmulatorClient
from gateway.crypto.keyring import new_key_entry
from gateway.storage.embedded import EmbeddedRedis, find_redis_server

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
PROVIDERS = ("google", "microsoft", "emulator")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """Redis + emulator + settings for a gateway reached at `public_url`.

    The emulator accepts the gateway's callbacks at that URL. Use as a context manager;
    everything (servers, temp files) goes at exit.
    """

    def __init__(
        self,
        public_url: str | None = None,
        own_process: bool = False,
        cluster: bool = False,
        **settings: str,
    ) -> None:
        """`cluster`: a three-master Redis Cluster (tests/redis_cluster.py, AOF on like the
        single server) instead of one redis-server."""
        self.port = free_port()
        self.public_url = public_url or f"http://127.0.0.1:{self.port}"
        self._stack = ExitStack()
        self.work = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="gw-b-")))
        # Debian's redis-server when installed (what deploy/ runs), else the wheel's.
        binary = shutil.which("redis-server") or find_redis_server()
        self.redis: Any
        if cluster:
            from tests.redis_cluster import LocalCluster  # the suites' own cluster start-up

            self.redis = self._stack.enter_context(LocalCluster(self.work / "redis", binary))
        else:
            self.redis = self._stack.enter_context(
                EmbeddedRedis(self.work / "redis", binary=binary)
            )
        callbacks = [f"{self.public_url}/auth/callback/{name}" for name in PROVIDERS]
        self.emulator: Any
        if own_process:
            self.emulator = self._stack.enter_context(
                EmulatorProcess(self.work / "ca.pem", callbacks, self.work / "emulator.log")
            )
        else:
            clients = {
                DEFAULT_CLIENT_ID: {"secret": DEFAULT_CLIENT_SECRET, "redirect_uris": callbacks}
            }
            self.emulator = self._stack.enter_context(
                start_emulator(ca_path=self.work / "ca.pem", clients=clients)
            )
        self.env = {
            "GATEWAY_SECRET_KEY": secrets.token_urlsafe(48),
            "GATEWAY_ENCRYPTION_KEYS": new_key_entry("bench"),
            "GATEWAY_REDIS_URL": self.redis.url,
            "GATEWAY_EMULATOR_URL": self.emulator.url,
            "GATEWAY_CA_BUNDLE": str(self.emulator.ca_path),
            "GATEWAY_PUBLIC_URL": self.public_url,
            "GATEWAY_DATA_DIR": str(self.work / "data"),
            "GATEWAY_LOG_LEVEL": "WARNING",
            **settings,
        }

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def process_env(self, **extra: str) -> dict[str, str]:
        """The environment for a gunicorn serving this stack's gateway."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        return {**base, "PYTHONPATH": str(ROOT), **self.env, **extra}


class EmulatorProcess:
    """The emulator in a process of its own, keeping connections alive as real providers
    do (bench/emulator_keepalive.py), on a free port: `url`, `ca_path`, `client` and `pid`
    (gunicorn's worker, where the emulator's CPU goes), like the in-process emulator
    without its `state`."""

    def __init__(self, ca_path: Path, callbacks: list[str], log: Path) -> None:
        port = free_port()
        command = [sys.executable, "-m", "bench.emulator_keepalive", "--port", str(port)]
        command += ["--ca-out", str(ca_path), "--work", str(log.parent / "emulator")]
        command += ["--client-id", DEFAULT_CLIENT_ID, "--client-secret", DEFAULT_CLIENT_SECRET]
        for uri in callbacks:
            command += ["--redirect-uri", uri]
        with log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command, cwd=ROOT, stdout=out, stderr=out, start_new_session=True
            )
        self.url = f"https://127.0.0.1:{port}"
        self.ca_path = ca_path
        self.redirect_uris = tuple(callbacks)  # the client's, as the in-process state lists
        deadline = time.monotonic() + 60
        while not ca_path.exists() or not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the emulator did not start; see {log}")
            time.sleep(0.05)
        self.client = EmulatorClient(self.url, ca_path)
        self.pid = _only_child(self.process.pid)

    def _answers(self) -> bool:
        try:
            with EmulatorClient(self.url, self.ca_path) as probe:
                probe.calls()
            return True
        except (OSError, requests.RequestException, ValueError):
            return False

    def stop(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _only_child(pid: int) -> int:
    """gunicorn's one worker under arbiter `pid` (the arbiter itself when there is none)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = children.read_text().split() if children.exists() else []
    return int(found[0]) if found else pid


@contextmanager
def gunicorn(
    target: str,
    port: int,
    env: dict[str, str],
    log: Path,
    workers: int | None = None,
    settle: float = 1.0,
) -> Iterator[str]:
    """Serve `target` with deploy/gunicorn.conf.py on `port`; yields its URL once a request
    has been answered and `settle` more seconds have passed (every worker imported)."""
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONFIG)]
    command += ["--bind", f"127.0.0.1:{port}"]
    if workers is not None:
        command += ["--workers", str(workers)]
    command.append(target)
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and config
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        _wait_until_serving(process, url, log)
        time.sleep(settle)
        yield url
    finally:
        # Nothing to drain or flush between runs (no state outside Redis, worker temp
        # files are unlinked at creation): kill the whole group at once.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def connections_per_worker(port: int) -> list[int]:
    """Established connections each worker of the gunicorn serving 127.0.0.1:`port` holds,
    most first: with keep-alive a connection stays with the worker that accepted it, and
    an uneven spread queues the crowded worker's connections (README, "Benchmarks"). Read
    from /proc (sockets by inode); [] when no such gunicorn is found."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                established.add(fields[9])  # the socket's inode
    counts = []
    for pid in _workers(port):
        try:
            links = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        counts.append(sum(1 for link in links if link[8:-1] in established))
    return sorted(counts, reverse=True)


def _workers(port: int) -> list[int]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if b"gunicorn" in command and f"127.0.0.1:{port}".encode() in command:
                return [
                    int(c) for c in (entry / "task" / entry.name / "children").read_text().split()
                ]
        except OSError:
            continue
    return []


def workers_cpu_seconds(port: int) -> float:
    """CPU seconds (user + system) the workers of the gunicorn serving 127.0.0.1:`port` have
    used so far: under load, the figure the shared cores disturb least (README,
    "Benchmarks"). 0.0 when no such gunicorn is found."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if b"gunicorn" not in command:
                continue
            if f"127.0.0.1:{port}".encode() not in command:
                continue
            children = (entry / "task" / entry.name / "children").read_text().split()
            total = 0
            for child in children:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            continue
        return total / tick
    return 0.0


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    with requests.Session() as http:
        http.trust_env = False
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {log}")
            try:
                # closed after: a kept probe connection would sit on one worker all run
                http.get(f"{url}/healthz", timeout=5, headers={"Connection": "close"})
                return
            except requests.RequestException:
                time.sleep(0.05)
    raise SystemExit(f"gunicorn did not answer within 60 s; see {log}")

"""A real three-master Redis Cluster on loopback, for running suites against a cluster.

Three redis-server processes with `cluster-enabled yes` (AOF on, as in production) are
joined by `redis-cli --cluster create`, exactly as an operator would, with no replicas:
the tests are about slot routing and cross-slot rules, not failover.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from gateway.storage.embedded import find_redis_server

MASTERS = 3
READY_WITHIN_SECONDS = 20.0


def free_port() -> int:
    """A free port whose cluster bus port (10000 higher, so at most 55535) is free too."""
    while True:
        port = random.randint(20000, 55535)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


class LocalCluster:
    """Start with `with LocalCluster(folder) as cluster:`; `cluster.url` names all masters."""

    def __init__(self, data_dir: Path, binary: str | None = None) -> None:
        self.data_dir = data_dir
        self.binary = binary or shutil.which("redis-server") or find_redis_server()
        cli = shutil.which("redis-cli") or str(Path(self.binary).with_name("redis-cli"))
        self.cli = cli
        self.ports: list[int] = []
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> LocalCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for index in range(MASTERS):
            port = free_port()
            folder = self.data_dir / f"node-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            self.ports.append(port)
            options = {
                "port": str(port),
                "bind": "127.0.0.1",
                "dir": str(folder),
                "cluster-enabled": "yes",
                "cluster-config-file": "nodes.conf",
                "appendonly": "yes",
                "appendfsync": "everysec",
                "save": "",
                "maxmemory-policy": "noeviction",
                "logfile": str(folder / "redis.log"),
            }
            argv = [self.binary] + [part for k, v in options.items() for part in (f"--{k}", v)]
            self._processes.append(
                subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            )
        for port in self.ports:
            self._wait_for(lambda port=port: bool(self._probe(port).ping()))
        subprocess.run(
            [self.cli, "--cluster", "create"]
            + [f"127.0.0.1:{port}" for port in self.ports]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=READY_WITHIN_SECONDS,
        )
        for port in self.ports:
            self._wait_for(lambda port=port: self._cluster_ok(port))

    @staticmethod
    def _cluster_ok(port: int) -> bool:
        info = LocalCluster._probe(port).cluster("INFO")
        return isinstance(info, dict) and info.get("cluster_state") == "ok"

    @staticmethod
    def _probe(port: int) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=port, decode_responses=True, single_connection_client=True
        )

    def _wait_for(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        last: object = "not ready"
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except redis.RedisError as error:
                last = error
            time.sleep(0.05)
        raise RuntimeError(f"the Redis Cluster did not come up ({last}); see {self.data_dir}")

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        self._processes.clear()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def each_server(client: redis.Redis) -> list[redis.Redis]:
    """The one server behind `client`, or a client for every primary of a cluster."""
    if isinstance(client, RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]

"""`python -m gateway` stops the embedded redis-server it started, however it is told to stop,
and on start stops one that an earlier run left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.redis_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0
READY = "Press Ctrl-C to stop."


def ignore_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Gateway:
    """One `python -m gateway` (embedded Redis, in-process emulator) on a data folder."""

    def __init__(self, data_dir: Path, log: Path, *, interrupt_ignored: bool = False) -> None:
        """`interrupt_ignored`: started as a shell starts a background job (`make run &`),
        with SIGINT ignored, which Python then leaves ignored unless told otherwise."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(GATEWAY_DATA_DIR=str(data_dir), GATEWAY_PORT=str(free_port()))
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=ignore_interrupt if interrupt_ignored else None,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while READY not in self.output():
            assert self.process.poll() is None, "the gateway exited:\n" + self.output()
            assert time.monotonic() < deadline, "the gateway did not start:\n" + self.output()
            time.sleep(0.1)

    def redis_server(self) -> psutil.Process:
        children = psutil.Process(self.process.pid).children()
        (server,) = [child for child in children if "redis-server" in child.name()]
        return server

    def stop(self, how: signal.Signals, seconds: float = 30) -> int:
        self.process.send_signal(how)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"not stopped in {seconds} s:\n{self.output()}") from None


def gone(process: psutil.Process) -> bool:
    """The process ended (reaped by whoever is its parent now, or about to be)."""
    try:
        process.wait(timeout=15)
    except psutil.TimeoutExpired:
        return False
    return True


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[psutil.Process]]:
    """Every redis-server the test saw; any still running at the end is killed."""
    servers: list[psutil.Process] = []
    yield servers
    for server in servers:
        if server.is_running():
            server.kill()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_stops_the_embedded_redis(
    how: signal.Signals, tmp_path: Path, started: list[psutil.Process]
) -> None:
    gateway = Gateway(tmp_path / "var", tmp_path / "gateway.log")
    gateway.wait_until_ready()
    server = gateway.redis_server()
    started.append(server)

    code = gateway.stop(how)
    assert gone(server), f"redis-server {server.pid} still runs after {how.name}"
    assert code == 0
    assert "Traceback" not in gateway.output()


def test_sigint_stops_a_gateway_started_with_it_ignored(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    """A background job of a non-interactive shell starts with SIGINT ignored: the
    gateway still stops on it (`kill -INT`), with its embedded Redis."""
    gateway = Gateway(tmp_path / "var", tmp_path / "gateway.log", interrupt_ignored=True)
    gateway.wait_until_ready()
    server = gateway.redis_server()
    started.append(server)

    assert gateway.stop(signal.SIGINT) == 0
    assert gone(server)
    assert "Traceback" not in gateway.output()


def test_a_redis_server_left_by_a_killed_gateway_is_stopped_with_one_line_at_start(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    first = Gateway(tmp_path / "var", tmp_path / "first.log")
    first.wait_until_ready()
    leftover = first.redis_server()
    started.append(leftover)
    first.stop(signal.SIGKILL)  # no clean-up at all: the server stays, with its pid file
    assert leftover.is_running()

    second = Gateway(tmp_path / "var", tmp_path / "second.log")
    second.wait_until_ready()
    assert gone(leftover), "the leftover redis-server was adopted, not stopped"
    said = [line for line in second.output().splitlines() if "left running" in line]
    assert len(said) == 1
    assert f"redis-server pid {leftover.pid} " in said[0]
    own = second.redis_server()
    started.append(own)
    assert own.pid != leftover.pid

    assert second.stop(signal.SIGTERM) == 0
    assert gone(own)

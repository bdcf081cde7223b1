"""`python -m gateway` (make run) starts the worker (gateway/worker.py) as a child process
beside the server and stops it with the gateway, however the gateway ends."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil
import pytest

from gateway.__main__ import WORKER_STOP_SECONDS
from tests.gateway.test_main_stop import Gateway, gone

# a job under way finishes first: the gateway may wait that long for its worker, then for
# its embedded Redis (a bound of the design, not a timing expectation)
STOP_SECONDS = WORKER_STOP_SECONDS + 30


def worker_of(gateway: Gateway) -> psutil.Process:
    children = psutil.Process(gateway.process.pid).children()
    (worker,) = [c for c in children if c.cmdline()[-4:-1] == ["gateway", "worker", "--parent-pid"]]
    return worker


def wait_for_line(gateway: Gateway, text: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while text not in gateway.output():
        assert time.monotonic() < deadline, f"no {text!r} in:\n{gateway.output()}"
        time.sleep(0.2)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_the_gateway_runs_a_worker_and_stops_it(how: signal.Signals, tmp_path: Path) -> None:
    gateway = Gateway(tmp_path / "var", tmp_path / "gateway.log")
    gateway.wait_until_ready()
    worker = worker_of(gateway)
    assert f"Worker (the background jobs of gateway/services/jobs.py): pid {worker.pid}" in (
        gateway.output()
    )
    wait_for_line(gateway, "worker started: retention, refresh-idle-grants")

    assert gateway.stop(how, STOP_SECONDS) == 0
    assert gone(worker)
    assert "Traceback" not in gateway.output()


def test_a_worker_whose_gateway_was_killed_stops_by_itself(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path / "var", tmp_path / "gateway.log")
    gateway.wait_until_ready()
    worker = worker_of(gateway)
    server = gateway.redis_server()
    wait_for_line(gateway, "worker started")

    gateway.stop(signal.SIGKILL)

    try:
        assert gone(worker), "the worker outlived the gateway that started it"
        wait_for_line(gateway, "the gateway that started it is gone")
    finally:
        server.kill()

"""The worker process (gateway/worker.py) on a real Redis: a periodic job runs once per
period however many workers run, a worker killed mid-run has its run recorded as failed
and retried, and SIGTERM stops a worker cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.storage import job_runs

ROOT = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).with_name("job_worker.py")


@pytest.fixture
def start_worker(gateway_env: dict[str, str]) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(mode: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(HELPER), mode],
            cwd=ROOT,
            env={**os.environ, "WORKER_ENV": json.dumps(gateway_env), "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def wait_for(condition: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=40)
    return process.returncode, output


@pytest.mark.redis_deployments
def test_two_workers_run_a_periodic_job_once_per_period(
    redis_deployment: str,
    start_worker: Callable[[str], subprocess.Popen[str]],
    redis_client: redis.Redis,
) -> None:
    workers = [start_worker("count"), start_worker("count")]
    wait_for(lambda: len(list(redis_client.scan_iter("gw:test:runs:*"))) >= 4, 60)
    outputs = [stop(worker) for worker in workers]

    runs = {
        key: int(redis_client.get(key) or 0) for key in redis_client.scan_iter("gw:test:runs:*")
    }
    assert len(runs) >= 4
    assert set(runs.values()) == {1}, runs  # side effects: one run per period, never two
    for code, output in outputs:
        assert code == 0, output
        assert "Traceback" not in output
    logged = "".join(output for _, output in outputs)
    assert logged.count("job count ok in") == sum(runs.values())  # one line per run
    assert job_runs.last_success(redis_client, "count") is not None


def test_a_worker_killed_mid_run_is_recorded_as_failed_and_its_period_runs_again(
    start_worker: Callable[[str], subprocess.Popen[str]], redis_client: redis.Redis
) -> None:
    first = start_worker("slow")
    wait_for(lambda: redis_client.get("gw:test:starts") == "1", 60)
    first.kill()  # SIGKILL mid-run: no clean-up of any kind
    first.communicate(timeout=30)
    assert job_runs.last_failure(redis_client, "slow") is None

    second = start_worker("slow")
    # its lease (1 s) expires unrenewed; the next tick finds the dead run and runs it again
    wait_for(lambda: redis_client.get("gw:test:starts") == "2", 60)
    failed_at = job_runs.last_failure(redis_client, "slow")
    assert failed_at is not None and failed_at <= time.time()
    assert job_runs.last_success(redis_client, "slow") is None
    second.kill()
    output, _ = second.communicate(timeout=30)
    assert "the previous run died without finishing" in output


def test_a_worker_stops_cleanly_on_sigterm_even_while_idle(
    start_worker: Callable[[str], subprocess.Popen[str]], redis_client: redis.Redis
) -> None:
    worker = start_worker("count")
    wait_for(lambda: any(redis_client.scan_iter("gw:test:runs:*")), 60)

    started = time.monotonic()
    code, output = stop(worker)

    assert code == 0, output
    assert time.monotonic() - started < 30
    assert "worker stopped" in output
    assert "Traceback" not in output


def test_a_worker_whose_redis_goes_away_logs_a_few_lines_and_still_stops(
    gateway_env: dict[str, str], own_redis: Any, tmp_path: Path
) -> None:
    env = {**gateway_env, "GATEWAY_REDIS_URL": own_redis.url}
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, str(HELPER), "count"],
            cwd=ROOT,
            env={**os.environ, "WORKER_ENV": json.dumps(env), "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for(lambda: "job count ok" in log.read_text(), 60)
        own_redis.stop()
        lines_before = len(log.read_text().splitlines())
        time.sleep(5)  # some 10 failed queue reads and 5 scheduler loops a second apart
        after = log.read_text().splitlines()[lines_before:]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    assert worker.returncode == 0, log.read_text()[-3000:]
    assert 1 <= len([line for line in after if "error" in line.lower()]) <= 6, after
    assert "Traceback" not in log.read_text()
    assert all(line.startswith("{") for line in after), after  # the JSON log lines


def test_a_worker_whose_named_parent_is_already_gone_stops_by_itself(
    gateway_env: dict[str, str], tmp_path: Path
) -> None:
    """The gateway passes its pid: one killed while the worker was still loading the app
    (when getppid() would already answer init's pid) is noticed all the same."""
    parent = subprocess.Popen([sys.executable, "-c", "pass"])
    parent.wait()
    env = {**os.environ, **gateway_env, "GATEWAY_DATA_DIR": str(tmp_path / "var")}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "gateway",
            "worker",
            "--parent-pid",
            str(parent.pid),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    assert "the gateway that started it is gone" in output
    assert "Traceback" not in output

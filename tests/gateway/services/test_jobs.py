"""The job registry and its runner (services/jobs.py) on a real Redis: what runs when, one
run per period, a failure recorded and retried, one log line per run with no secret."""

from __future__ import annotations

import logging
import threading

import pytest
import redis

from gateway.services.jobs import Job, JobRunner, names, registry
from gateway.storage import job_runs
from gateway.storage.job_runs import JobRuns
from gateway.storage.jobs import JobLedger

HOUR, DAY = 3600.0, 86400.0


def runner(client: redis.Redis, at: float) -> JobRunner:
    return JobRunner(JobLedger(client), JobRuns(client), lease_seconds=5, clock=lambda: at)


def test_the_registry_says_what_runs_when() -> None:
    jobs = {
        job.name: job
        for job in registry(
            sweep_retention=str,
            refresh_idle_grants=str,
            count_reconnects=str,
            renew_watches=str,
            check_changes=str,
        )
    }
    assert (jobs["retention"].every_seconds, jobs["retention"].offset_seconds) == (DAY, 11820)
    assert (jobs["refresh-idle-grants"].every_seconds,) == (HOUR,)
    assert (jobs["renew-watches"].every_seconds, jobs["renew-watches"].offset_seconds) == (
        HOUR,
        600,
    )
    # the count behind the reconnect alert: fresh within 5 minutes, due at once
    assert (jobs["count-reconnects"].every_seconds, jobs["count-reconnects"].offset_seconds) == (
        300,
        0,
    )
    assert (jobs["check-changes"].every_seconds, jobs["check-changes"].offset_seconds) == (60, 0)
    # /metrics reports every job's last success (storage names no service: kept equal here)
    assert names(list(jobs.values())) == job_runs.JOBS


def test_a_job_is_due_from_its_offset_in_each_period() -> None:
    daily = Job("daily", DAY, 3 * HOUR, str)
    assert daily.period(10 * DAY + 2 * HOUR) is None  # 02:00: not yet
    assert daily.period(10 * DAY + 3 * HOUR) == 10
    assert daily.period(11 * DAY - 1) == 10


def test_many_ticks_at_once_run_a_period_once(redis_client: redis.Redis) -> None:
    runs: list[int] = []
    gate = threading.Barrier(8)

    def work() -> str:
        runs.append(1)
        return "done"

    job = Job("counted", HOUR, 0, work)
    outcomes: list[str] = []

    def tick() -> None:
        gate.wait()
        outcomes.append(runner(redis_client, 5 * HOUR + 10).tick(job))

    threads = [threading.Thread(target=tick) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(runs) == 1 and outcomes.count("ran") == 1
    assert set(outcomes) <= {"ran", "busy", "done"}
    assert runner(redis_client, 5 * HOUR + 900).tick(job) == "done"  # later in the hour
    assert runner(redis_client, 6 * HOUR + 1).tick(job) == "ran"  # the next hour
    assert len(runs) == 2


def test_a_failing_run_is_recorded_and_retried_at_the_next_tick(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("token=SECRET-123 in a message")
        return "fine"

    job = Job("flaky", HOUR, 0, flaky)
    with caplog.at_level(logging.INFO, logger="gateway.services.jobs"):
        assert runner(redis_client, HOUR).tick(job) == "failed"
        assert job_runs.last_failure(redis_client, "flaky") is not None
        assert job_runs.last_success(redis_client, "flaky") is None
        assert runner(redis_client, HOUR + 60).tick(job) == "ran"

    assert job_runs.last_success(redis_client, "flaky") is not None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # one line per run
    assert "RuntimeError" in lines[0] and "SECRET" not in "\n".join(lines)
    assert not any(r.exc_info for r in caplog.records)  # no stack trace

"""When a scheduled job last finished well (or failed), for /metrics and alerts.

The jobs run in the worker process (gateway/worker.py; the registry: services/jobs.py),
whose metrics no scrape sees; so each run's end is written to Redis and every web worker
reports it at /metrics (`gateway_job_last_success_timestamp_seconds{task}`), where an alert
can see a job that stopped succeeding. No personal data: a job name and a time.

    gw:job:<job>:last-success   string  UNIX time of the last run that ended without error
    gw:job:<job>:last-failure   string  UNIX time of the last run that failed or died
"""

from __future__ import annotations

import time

import redis

from gateway.storage import keys

# The jobs of services/jobs.py (a test keeps the two lists equal): storage names no service.
JOBS = ("retention", "refresh-idle-grants", "count-reconnects", "renew-watches", "check-changes")


def record_success(client: redis.Redis, job: str, at: float | None = None) -> None:
    client.set(keys.job_last_success(job), f"{at if at is not None else time.time():.3f}")


def last_success(client: redis.Redis, job: str) -> float | None:
    raw = client.get(keys.job_last_success(job))
    try:
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None  # not ours: reported as never, so the alert fires


def record_failure(client: redis.Redis, job: str, at: float | None = None) -> None:
    client.set(keys.job_last_failure(job), f"{at if at is not None else time.time():.3f}")


def last_failure(client: redis.Redis, job: str) -> float | None:
    raw = client.get(keys.job_last_failure(job))
    try:
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


class JobRuns:
    """The two records above on one client, for the worker's runner (services/jobs.py)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def succeeded(self, job: str, at: float) -> None:
        record_success(self.client, job, at)

    def failed(self, job: str, at: float) -> None:
        record_failure(self.client, job, at)

"""When a scheduled job (the retention sweep) last finished well, for /metrics and alerts.

The job runs in its own process (a CronJob pod, a cron line), whose metrics no scrape ever
sees; so its last success is written to Redis and every web worker reports it at /metrics
(`gateway_job_last_success_timestamp_seconds{task}`), where an alert can see a sweep that
stopped running. No personal data: a job name and a time.

    gw:job:<job>:last-success   string  UNIX time of the last run that ended without error
"""

from __future__ import annotations

import time

import redis

from gateway.storage import keys

JOBS = ("retention",)


def record_success(client: redis.Redis, job: str, at: float | None = None) -> None:
    client.set(keys.job_last_success(job), f"{at if at is not None else time.time():.3f}")


def last_success(client: redis.Redis, job: str) -> float | None:
    raw = client.get(keys.job_last_success(job))
    try:
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None  # not ours: reported as never, so the alert fires

"""What the worker runs, and when: the one registry of the gateway's background jobs.

| job                   | every  | at                 | what
|-----------------------|--------|--------------------|------------------------------------------
| `retention`           | day    | 03:17 UTC          | the retention sweep (services/retention.py)
|                       |        |                    | and the pruning of old tombstones
| `refresh-idle-grants` | hour   | 5 min past         | refresh active grants not refreshed for 7
|                       |        |                    | days (services/connection_health.py)
| `count-reconnects`    | 5 min  | at once            | count grants and rooms needing reconnect,
|                       |        |                    | for /metrics (storage/reconnect_counts.py)
| `renew-watches`       | hour   | 10 min past        | replace provider channels about to
|                       |        |                    | lapse, open those that failed (polled
|                       |        |                    | until then), stop unbound ones
|                       |        |                    | (services/watches.py)
| `check-changes`       | minute | at once            | read the version of every bound CalDAV
|                       |        |                    | and ICS calendar; read again the days
|                       |        |                    | of those that changed
|                       |        |                    | (services/change_checks.py; every
|                       |        |                    | GATEWAY_CHANGE_CHECK_SECONDS)

A period of a job runs once across every worker process and machine: huey's scheduler in
each worker enqueues a tick of each job (every minute), and the tick that claims the
period in the ledger (storage/jobs.py) runs it; the others see it done or under way and
do nothing. A run holds a lease it renews while it works; a worker killed mid-run leaves
a lease that expires, and the next tick records that run as failed and runs the period
again. A run that raises is recorded as failed and retried at the next tick as well.
Each run writes one log line (job, outcome, duration, counts; never a secret or a trace)
and its end to Redis (storage/job_runs.py: the metric and its alert).

Not here, on purpose: the disk scrub's AOF rewrites and the completion of revocations
Redis refused at its memory limit stay in every gateway process (services/disk_scrub.py):
erased data must leave the disk within GATEWAY_DISK_SCRUB_SECONDS even when no worker
runs, and a revocation Redis could not even record lives only in the memory of the
process that made it. Both are already coordinated across processes (a lock, a claim).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.storage.job_runs import JobRuns
from gateway.storage.jobs import JobLedger

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # a dead run is found this long after its worker stopped renewing


@dataclass(frozen=True)
class Job:
    """One background job: its name (the metric's `task` label), its period and where in
    the period it becomes due (seconds after the period's start, UTC), and what it does
    (returns a short summary of counts for the log line)."""

    name: str
    every_seconds: float
    offset_seconds: float
    run: Callable[[], str]

    def period(self, now: float) -> int | None:
        """The period `now` falls in, or None before this period's due time."""
        index = int(now // self.every_seconds)
        if now - index * self.every_seconds < self.offset_seconds:
            return None
        return index


def registry(
    *,
    sweep_retention: Callable[[], str],
    refresh_idle_grants: Callable[[], str],
    count_reconnects: Callable[[], str],
    renew_watches: Callable[[], str],
    check_changes: Callable[[], str],
    check_seconds: float = 60,
) -> list[Job]:
    """The gateway's jobs (the table above), given what each one calls."""
    return [
        Job("retention", 24 * 3600, 3 * 3600 + 17 * 60, sweep_retention),
        Job("refresh-idle-grants", 3600, 5 * 60, refresh_idle_grants),
        Job("count-reconnects", 5 * 60, 0, count_reconnects),
        Job("renew-watches", 3600, 10 * 60, renew_watches),
        Job("check-changes", check_seconds, 0, check_changes),
    ]


class JobRunner:
    """Runs a tick of a job: claims its period, runs it under a renewed lease, records the
    outcome. Safe to call from any number of processes at once."""

    def __init__(
        self,
        ledger: JobLedger,
        runs: JobRuns,
        *,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.runs = runs
        self.lease = lease_seconds
        self.clock = clock  # what the periods are reckoned by; records take the real time

    def tick(self, job: Job) -> str:
        """One tick: "ran", "failed", or why nothing ran ("not due", "done", "busy")."""
        period = job.period(self.clock())
        if period is None:
            return "not due"
        holder = f"{secrets.token_hex(6)} {period} {time.time():.0f}"
        claim = self.ledger.claim(job.name, period, holder, self.lease)
        if not claim.granted:
            return claim.outcome
        if claim.outcome == "abandoned":
            self.runs.failed(job.name, time.time())
            log.warning("job %s: the previous run died without finishing; running again", job.name)
        return self._run(job, period, holder)

    def _run(self, job: Job, period: int, holder: str) -> str:
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(job.name, holder, stop), name=f"job-lease-{job.name}"
        )
        renewer.daemon = True
        renewer.start()
        started = time.monotonic()
        ok = False
        try:
            summary = job.run()
            ok = True
        except Exception as error:  # one line: the type, never the message or a trace
            summary = f"error {type(error).__name__}"
        finally:
            stop.set()
            renewer.join(self.lease)
        finished = time.time()
        seconds = time.monotonic() - started
        keep = 2 * job.every_seconds
        self.ledger.finish(job.name, period, holder, at=finished, keep_seconds=keep, ok=ok)
        if ok:
            self.runs.succeeded(job.name, finished)
            log.info("job %s ok in %.2f s: %s", job.name, seconds, summary)
            return "ran"
        self.runs.failed(job.name, finished)
        log.warning(
            "job %s failed in %.2f s (%s); retried at the next tick", job.name, seconds, summary
        )
        return "failed"

    def _renew(self, name: str, holder: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease / 3):
            try:
                if not self.ledger.renew(name, holder, self.lease):
                    log.warning("job %s: its lease was lost; another worker may run it", name)
                    return
            except Exception as error:  # Redis away: the next renewal tries again
                log.info("job %s: lease not renewed (%s)", name, type(error).__name__)


def names(jobs: Sequence[Job]) -> tuple[str, ...]:
    return tuple(job.name for job in jobs)

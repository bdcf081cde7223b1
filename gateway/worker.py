"""The worker process: the gateway's background jobs (services/jobs.py) on huey.

`python -m gateway worker` or `flask --app gateway worker` runs one; `python -m gateway`
starts one beside the development server; deploy/ runs it as its own container. Any number
may run on one Redis: each enqueues a tick of every job once per TICK_SECONDS, and the
ledger (storage/jobs.py) lets one tick per period do the work.

Why huey (3.x, one maintainer since 2011, pure Python, depends on redis-py only): its Redis
storage touches one key per command (and one script on one key), so with every key under
the `{jobs}` hash tag it runs unchanged on the gateway's single server, Sentinel or Cluster
client; its consumer stops gracefully on SIGTERM and restarts dead worker threads. RQ keeps
jobs in multi-key transactions across fixed `rq:` keys (no Cluster) and its cron scheduler
enqueues once per scheduler process; dramatiq has no scheduler at all. huey's own gaps are
closed here: its scheduler enqueues a periodic task in every consumer (hence the ledger),
a task popped by a worker that is then killed is gone (hence the lease: the next tick
retries the period), and it pickles (hence JSON messages, storage/jobs.py).

Liveness: the scheduler touches HEARTBEAT_FILE on each loop (about once a second); the
Kubernetes probe checks its age (deploy/k8s/base/worker-deployment.yaml).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from huey import Huey
from huey.consumer import Consumer, Scheduler

from gateway.context import Services
from gateway.errors import ErrorTally
from gateway.log_redaction import kind_of
from gateway.services.jobs import LEASE_SECONDS, Job, JobRunner, registry
from gateway.storage import reconnect_counts, webhook_queue
from gateway.storage.job_runs import JobRuns
from gateway.storage.jobs import JobLedger, JobQueueStorage, JsonMessages

log = logging.getLogger(__name__)

TICK_SECONDS = 60.0
THREADS = 2  # a long retention sweep never holds back the hourly refresh
SHUTDOWN_SECONDS = 25.0  # within Kubernetes' default 30 s grace period
HUEY_LOGGERS = (
    "huey",
    "huey.consumer",
    "huey.consumer.Scheduler",
    "huey.consumer.Worker",
    "huey.serializer",
)


def gateway_jobs(found: Services) -> list[Job]:
    """The registry's jobs, wired to the services that do the work."""

    def sweep_retention() -> str:
        report = found.retention.run()
        tombstones = found.privacy.prune_tombstones()
        return (
            f"idle grants revoked {report.idle_grants_revoked}, audit entries trimmed "
            f"{report.audit_entries_trimmed}, consent logs deleted "
            f"{report.consent_logs_deleted}, tombstones deleted {tombstones}"
        )

    def refresh_idle_grants() -> str:
        return f"grants refreshed {found.health.keep_alive()}"

    def count_reconnects() -> str:
        grants, rooms = found.health.count_needing_reconnect()
        reconnect_counts.write(found.redis, grants, rooms, time.time())
        return f"grants needing reconnect {grants}, rooms {rooms}"

    def renew_watches() -> str:
        return str(found.watches.renew(lambda: {r.host for r in found.rooms.all() if r.host}))

    def check_changes() -> str:
        return str(found.change_checks.check_all())

    return registry(
        sweep_retention=sweep_retention,
        refresh_idle_grants=refresh_idle_grants,
        count_reconnects=count_reconnects,
        renew_watches=renew_watches,
        check_changes=check_changes,
        check_seconds=found.settings.change_check_seconds,
    )


class Worker:
    """huey wired to the gateway: its queue on the gateway's Redis client, one periodic
    tick per job, each tick run by JobRunner inside the app's context."""

    def __init__(
        self,
        app: Flask,
        *,
        jobs: Sequence[Job] | None = None,
        tick_seconds: float = TICK_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        heartbeat: Path | None = None,
        parent: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        found: Services = app.extensions["gateway"]
        self.app = app
        self.jobs = list(jobs if jobs is not None else gateway_jobs(found))
        ledger = JobLedger(found.redis)
        runs = JobRuns(found.redis)
        self.runner = JobRunner(ledger, runs, lease_seconds=lease_seconds, clock=clock)
        self.tick_seconds = tick_seconds
        self.heartbeat = heartbeat
        self.parent = parent  # stop when this process is no longer our parent
        self.huey = Huey(
            "gateway",
            results=False,
            utc=True,
            serializer=JsonMessages(),
            storage_class=JobQueueStorage,
            client=found.redis,
        )
        for job in self.jobs:
            self._register(job)
        # one-off tasks: API clients' webhooks, retried with backoff (storage/webhook_queue.py)
        webhook_queue.register(self.huey, self._deliver)

    def _deliver(self, delivery: dict[str, Any], attempt: int) -> None:
        with self.app.app_context():
            self.app.extensions["gateway"].webhook_deliverer.deliver(delivery, attempt)

    def _register(self, job: Job) -> None:
        def tick() -> str:
            with self.app.app_context():
                return self.runner.tick(job)

        self.huey.periodic_task(_every_tick, name=job.name)(tick)

    def consumer(self, *, signals: bool = True) -> GatewayConsumer:
        return GatewayConsumer(
            self.huey,
            tick_seconds=self.tick_seconds,
            heartbeat=self.heartbeat,
            parent=self.parent,
            signals=signals,
            workers=THREADS,
            worker_type="thread",
            periodic=True,
            initial_delay=0.1,
            max_delay=1.0,
            scheduler_interval=1,
            shutdown_timeout=SHUTDOWN_SECONDS,
            graceful_signal="TERM",
        )

    def run(self) -> None:
        """Run until SIGTERM, SIGINT or SIGHUP; a job under way finishes first."""
        quiet_huey(self.app.extensions["error_tally"])
        log.info(
            "worker started: %s, a tick every %.0f s",
            ", ".join(job.name for job in self.jobs),
            self.tick_seconds,
        )
        self.consumer().run()
        log.info("worker stopped")


def quiet_huey(tally: ErrorTally) -> None:
    """huey logs each tick (enqueued, executing, executed) at INFO and every failed queue
    read while Redis is down with its traceback: the worker's own line per run says what
    happened, and huey's errors are counted by type, once per interval (gateway/errors.py)."""
    logging.getLogger("huey").setLevel(logging.WARNING)
    for name in HUEY_LOGGERS:  # a logger's filters do not see its children's records
        huey_log = logging.getLogger(name)
        if not any(isinstance(f, _TallyHueyErrors) for f in huey_log.filters):
            huey_log.addFilter(_TallyHueyErrors(tally))


class _TallyHueyErrors(logging.Filter):
    def __init__(self, tally: ErrorTally) -> None:
        super().__init__()
        self.tally = tally

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        self.tally.report(f"worker error: {kind_of(record.exc_info[1])}")
        return False


def _every_tick(_timestamp: Any) -> bool:
    return True  # the job's own period decides (services/jobs.py)


class _TickingScheduler(Scheduler):
    """huey's scheduler, checking periodic tasks every `periodic_task_seconds` (set per
    consumer) and touching the heartbeat file the liveness probe reads."""

    heartbeat: Path | None = None
    parent: int | None = None

    def loop(self, now: Any = None) -> None:
        if self.parent is not None and os.getppid() != self.parent:
            log.info("worker: the gateway that started it is gone; stopping")
            self.parent = None
            os.kill(os.getpid(), signal.SIGTERM)  # the consumer's own graceful stop
        if self.heartbeat is not None:
            try:
                self.heartbeat.touch()
            except OSError as error:
                log.warning("worker heartbeat not written (%s)", type(error).__name__)
        super().loop(now)


class GatewayConsumer(Consumer):
    """huey's consumer with the tick and heartbeat above; SIGHUP stops it gracefully like
    SIGTERM (huey would re-exec the process), and tests may run it without signal handlers."""

    def __init__(
        self,
        huey: Huey,
        *,
        tick_seconds: float,
        heartbeat: Path | None,
        parent: int | None,
        signals: bool,
        **options: Any,
    ) -> None:
        self.scheduler_class = type(
            "Scheduler",
            (_TickingScheduler,),
            {"periodic_task_seconds": tick_seconds, "heartbeat": heartbeat, "parent": parent},
        )
        self._signals = signals
        super().__init__(huey, **options)
        self._signal_actions[signal.SIGHUP] = (False, True)

    def start(self) -> None:
        # handlers first: huey starts the scheduler before it sets them, and a scheduler that
        # finds its gateway gone at once signals us before they exist (killed, not stopped)
        self._set_signal_handlers()
        super().start()

    def _set_signal_handlers(self) -> None:
        if self._signals:
            super()._set_signal_handlers()

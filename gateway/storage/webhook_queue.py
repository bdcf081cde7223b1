"""The queue of webhook deliveries: a huey task on the worker's queue (gateway/worker.py).

A delivery is enqueued by whichever process saw the change and run by a worker: huey retries
a failed one RETRIES times, waiting FIRST_RETRY_SECONDS and then twice as long each time (1,
2, 4, 8 s: capped by the count), so a receiver that is down a few seconds still gets it. The
task is registered under one name in every Huey that uses it, the enqueuing one and the
consumer's, which is how huey finds the function a message names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from huey import Huey

from gateway.storage.jobs import JobQueueStorage, JsonMessages

TASK = "deliver_webhook"
RETRIES = 4
FIRST_RETRY_SECONDS = 1.0
BACKOFF = 2.0

Handler = Callable[[dict[str, Any], int], None]  # (delivery, attempt from 1)


def job_huey(client: redis.Redis) -> Huey:
    """The gateway's huey, on its Redis client, JSON messages and `gw:{jobs}` keys."""
    return Huey(
        "gateway",
        results=False,
        utc=True,
        serializer=JsonMessages(),
        storage_class=JobQueueStorage,
        client=client,
    )


def register(huey: Huey, handler: Handler) -> Any:
    """The delivery task on `huey`, running `handler`; raising from it is a retry."""

    def deliver_webhook(delivery: dict[str, Any], task: Any = None) -> None:
        retries_left = task.retries if task is not None else RETRIES
        handler(delivery, RETRIES - retries_left + 1)

    deliver_webhook.__module__ = __name__
    return huey.task(
        retries=RETRIES,
        retry_delay=FIRST_RETRY_SECONDS,
        retry_backoff=BACKOFF,
        context=True,
        name=TASK,
    )(deliver_webhook)


class WebhookQueue:
    """Enqueues deliveries for the workers; never runs one itself."""

    def __init__(self, client: redis.Redis) -> None:
        self._task = register(job_huey(client), _run_by_workers_only)

    def enqueue(self, delivery: dict[str, Any]) -> None:
        self._task(delivery)


def _run_by_workers_only(delivery: dict[str, Any], attempt: int) -> None:
    raise RuntimeError("a delivery is run by a worker (gateway/worker.py)")

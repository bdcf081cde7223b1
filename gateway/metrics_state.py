"""Gauges /metrics reads from Redis at each scrape: states shared by every process, so a
gauge kept in one process would be wrong in all the others.

    gateway_breaker_open{provider}            1 while the provider's circuit breaker is not
                                              closed (open, or half-open awaiting a success)
    gateway_grants_needing_reconnect          grants that ended while rooms are bound to them
    gateway_rooms_needing_reconnect           rooms that answer needs_reconnect because of them
    gateway_job_last_success_timestamp_seconds{task}   when each worker job last ended well

Each is cheap: an EXISTS and a GET per configured provider (services/breaker.py keeps the
state; this only reads it) and one HMGET of the count the worker's `count-reconnects` job writes
(storage/reconnect_counts.py). The alerts use these states rather than events: an event
count over a window misses a single lost grant and clears while the rooms are still broken.
Redis not answering: the family is shown empty and the error counted, the scrape answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from gateway import metrics


class BreakerStateCollector:
    """`gateway_breaker_open{provider}`: 0 or 1 per configured provider. Half-open counts as
    open: during an outage the open mark lasts one cool-down (30 s), then the breaker is
    half-open until a probe fails and opens it again, or no request comes to probe at all; a
    gauge of the open mark alone would drop to 0 between cool-downs and keep resetting the
    alert's `for:`. A success (the only way to close it) sets it back to 0."""

    def __init__(self, client: Any, providers: Sequence[str], threshold: int) -> None:
        from gateway.storage.breaker import BreakerStore

        self.store = BreakerStore(client)  # read only: the breaker stays the service's
        self.providers = list(providers)
        self.threshold = threshold

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from gateway.storage.errors import StorageError

        family = GaugeMetricFamily(
            "gateway_breaker_open",
            "1 while the provider's free/busy circuit breaker is open or half-open (its rooms "
            "answer unknown or stale), 0 once closed.",
            labels=["provider"],
        )
        for provider in self.providers:
            try:
                is_open = (
                    self.store.is_open(provider) or self.store.failures(provider) >= self.threshold
                )
            except StorageError as error:
                metrics.redis_error(error)
                break
            family.add_metric([metrics.label(provider)], 1.0 if is_open else 0.0)
        yield family


class ReconnectCountsCollector:
    """The last count of grants and rooms needing reconnection; none before the first."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from gateway.storage import reconnect_counts
        from gateway.storage.errors import StorageError

        grants = GaugeMetricFamily(
            "gateway_grants_needing_reconnect",
            "Grants that ended without their owner (refused at the provider, scope lost, "
            "tokens broken) while rooms are bound to them, as last counted by the worker.",
        )
        rooms = GaugeMetricFamily(
            "gateway_rooms_needing_reconnect",
            "Rooms answering needs_reconnect, as last counted by the worker.",
        )
        try:
            counted = reconnect_counts.read(self.client)
        except StorageError as error:
            metrics.redis_error(error)
            counted = None
        if counted is not None:
            grants.add_metric([], counted.grants)
            rooms.add_metric([], counted.rooms)
        yield grants
        yield rooms


class JobRunsCollector:
    """`gateway_job_last_success_timestamp_seconds{task}`, read from Redis at each scrape
    (the jobs run in other processes); a job never run, or Redis not answering, has none.
    The label is `task`, not `job`: Prometheus sets `job` itself."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from gateway.storage import job_runs
        from gateway.storage.errors import StorageError

        family = GaugeMetricFamily(
            "gateway_job_last_success_timestamp_seconds",
            "UNIX time a background job of the worker last ended without error.",
            labels=["task"],
        )
        for job in job_runs.JOBS:
            try:
                at = job_runs.last_success(self.client, job)
            except StorageError as error:
                metrics.redis_error(error)
                break
            if at is not None:
                family.add_metric([job], at)
        yield family

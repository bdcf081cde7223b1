"""An experiment for the warm tail (README, "Benchmarks", "The warm tail, third pass"): a
gunicorn gthread worker that, while all its threads are busy, leaves a new connection to
an idle sibling for `DEFER_SECONDS` before it accepts it itself.

Kept-alive connections stay with the worker that accepted them, and the workers race for
them on one shared listening socket, so a burst of connections can crowd one worker (27 of
32 measured) whose connections then queue. This worker never refuses a connection and keeps
the shared socket (a worker that exits leaves its queued connections to the others, which
`reuse_port` does not). It leans on gthread's internals (its run loop reads
`worker_connections` each turn to decide whether to listen), so it is a benchmark option,
not the production config:

    python -m bench.freebusy_warm \
        --gunicorn-args "--worker-class bench.balanced_worker.BalancedWorker"
"""

from __future__ import annotations

import time

from gunicorn.workers.gthread import ThreadWorker

DEFER_SECONDS = 0.005


class BalancedWorker(ThreadWorker):
    """gthread, but a worker whose threads are all busy accepts at most one connection per
    `DEFER_SECONDS`, so idle siblings get the others first."""

    _cap = 1000
    _busy_since: float | None = None

    def _in_flight(self) -> int:
        return int(self.nr_conns - len(self.keepalived_conns) - len(self.pending_conns))

    @property
    def worker_connections(self) -> int:
        """gthread listens while `nr_conns` is below this: here, not while busy and deferring."""
        if self._in_flight() < self.cfg.threads:
            self._busy_since = None
            return self._cap
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since = now
        return int(self.nr_conns) if now - self._busy_since < DEFER_SECONDS else self._cap

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._cap = value

    def accept(self, listener: object) -> None:
        super().accept(listener)
        busy = self._in_flight() >= self.cfg.threads
        self._busy_since = time.monotonic() if busy else None  # one more only after a defer

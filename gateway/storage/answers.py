"""One counter that moves whenever any free/busy answer may have changed.

Workers keep recent free/busy answers in memory (services/freebusy.py) so that a warm
request costs no read of rooms, bindings, restriction flags or cached days. Every write
that can change an answer bumps the counter after it has committed: a cache fill, a grant
purged or revoked, a binding made or ended, a room changed or deleted, a restriction set or
lifted; and an API client disabled or deleted. Two more things a worker keeps are trusted
only under the generation they were read under: which grants are active
(services/freebusy_cached_days.py) and which API client secrets were verified
(storage/api_clients.py); `shared_lease` gives them one lease per process.

A worker reads the counter at most once per `LEASE_SECONDS` (a lease timed from before the
read) and serves remembered answers of that generation meanwhile; any bump made by the same
process ends its leases at once. So that no worker serves an answer from before a change
after the change has been acknowledged, the thread that bumped waits out the lease before
it answers anyone: `settle()`, which the app runs when a request or CLI command ends
(app.py). The one bump that is not waited for is a cache fill: a fresher fill does not make
a remembered answer wrong, and the cold path should not pay for it. Measured: the read on
every request cost a warm 50-room free/busy request about 0.16 ms of a gunicorn worker's CPU
(README, "Benchmarks").

    gw:{answers}:generation   string  counter (no personal data, no expiry)
"""

from __future__ import annotations

import threading
import time
import weakref

import redis
from redis.cluster import ClusterPipeline

from gateway.storage.keys import PREFIX

GENERATION = f"{PREFIX}:{{answers}}:generation"
LEASE_SECONDS = 0.05

_bumps_here = [0]  # bumps made by this process: a lease older than the last one is over
_this_thread = threading.local()


class Lease:
    """The generation as this worker last read it, trusted for `LEASE_SECONDS`."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._held: tuple[str, float, int] | None = None  # value, until, bumps seen

    def current(self) -> str:
        held = self._held
        now = time.monotonic()
        if held is not None and now < held[1] and held[2] == _bumps_here[0]:
            return held[0]
        seen = _bumps_here[0]
        value = str(self.client.get(GENERATION) or "0")
        self._held = (value, now + LEASE_SECONDS, seen)  # timed from before the read
        return value


_shared: weakref.WeakKeyDictionary[redis.Redis, Lease] = weakref.WeakKeyDictionary()


def shared_lease(client: redis.Redis) -> Lease:
    """The one lease of this process on `client`: what each of its readers trusts (the
    grants known active, the API clients' verified secrets) costs one read per lease in
    all, not one each."""
    found = _shared.get(client)
    if found is None:
        found = _shared.setdefault(client, Lease(client))
    return found


def bump(client: redis.Redis, *, settled: bool = True) -> None:
    """Move the counter; unless `settled` is False, this thread's next `settle()` waits
    until no worker can still hold a lease from before it."""
    client.incr(GENERATION)
    _bumps_here[0] += 1
    if settled:
        _this_thread.settle_at = time.monotonic() + LEASE_SECONDS


def bump_in(pipe: redis.client.Pipeline) -> bool:
    """Queue a bump (never waited for: a cache fill's) at the end of `pipe`, after the writes
    queued before it, so that a fill pays no round trip of its own for it; call `bumped()`
    once the pipeline has run. False on a Cluster, whose pipeline runs per node in no set
    order (the bump could land before the writes): bump separately there."""
    if isinstance(pipe, ClusterPipeline):
        return False
    pipe.incr(GENERATION)
    return True


def bumped() -> None:
    """The pipeline `bump_in` queued on has run: this process's leases are over."""
    _bumps_here[0] += 1


def settle() -> None:
    """Wait out the leases this thread's bumps may still meet elsewhere (at most
    `LEASE_SECONDS`, and only after a bump)."""
    settle_at = getattr(_this_thread, "settle_at", 0.0)
    _this_thread.settle_at = 0.0
    wait = settle_at - time.monotonic()
    if wait > 0:
        time.sleep(wait)

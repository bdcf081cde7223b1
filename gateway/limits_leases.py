"""Rate-limit decisions in the process, reconciled with Redis one batch at a time.

A warm request used to make one Redis round trip only to be counted: the moving-window
script. Here a worker claims a *lease* of several requests from the shared window at once
(one script run that counts them all, at the time of the claim) and then admits that many
requests of the same caller from memory, going back to Redis when the lease is used up or
when its entries have left the shared window.

Why this is safe, and the bound (README, "Benchmarks"; tests/gateway/test_limits.py):

- Every request admitted was counted in Redis before it was admitted, so Redis never holds
  fewer entries than there were admissions. What leases change is *when* an admission is
  counted: at its lease's claim, up to one window earlier than the request itself.
- So in any window a caller is admitted at most its limit plus the tokens that processes
  were still holding when the window began: **at most P x lease more than the limit**, P
  being the number of worker processes across every machine. One lease is 1/100 of the
  limit, at most 1,000 (`LEASE_SHARE`, `MAX_LEASE`); a limit under 200 per window gets no
  lease at all and is counted in Redis on every request, exactly as before (so 6/minute
  alternating between two processes lets exactly 6 through).
- The other way round, a caller can be refused up to P x lease early while leases sit
  unused in other processes. Near its limit a full lease no longer fits in the window, and
  the worker counts the caller one request at a time again.

A worker holds one lease per (limit, caller) at a time: claims are made under a lock, so
its threads cannot pile up several.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem
from limits.strategies import MovingWindowRateLimiter

LEASE_SHARE = 0.01  # a lease is this share of the limit ...
MAX_LEASE = 1000  # ... but never more requests than this
MAX_HELD = 10_000  # leases remembered per worker; past this, expired ones are dropped


@dataclass
class _Lease:
    remaining: int
    ends_at: float  # monotonic: when the claim's entries leave the shared window


def lease_size(item: RateLimitItem) -> int:
    """Requests one claim takes from `item`'s window; 1 means counted per request."""
    return max(1, min(MAX_LEASE, int(item.amount * LEASE_SHARE)))


class Leases:
    """The leases one worker holds, and the claims that refill them."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], _Lease] = {}
        self._lock = threading.Lock()

    def hit(
        self, strategy: MovingWindowRateLimiter, item: RateLimitItem, scope: str, key: str
    ) -> bool:
        """Admit one request of `key` under `item`: from a lease held here, or by claiming
        a new one from `strategy`'s window, or, when no whole lease fits, by counting this
        one request there. Raises what `strategy` raises."""
        size = lease_size(item)
        if size == 1:
            return strategy.hit(item, scope, key)
        slot = (item.key_for(scope), key)
        with self._lock:
            held = self._held.get(slot)
            now = time.monotonic()
            if held is not None and held.remaining > 0 and now < held.ends_at:
                held.remaining -= 1
                return True
            # under the lock: the worker's other threads wait for this claim, not make theirs
            if strategy.hit(item, scope, key, cost=size):
                self._keep(slot, _Lease(size - 1, now + item.get_expiry()))
                return True
        return strategy.hit(item, scope, key)  # near the limit: one request at a time

    def clear(self) -> None:
        with self._lock:
            self._held.clear()

    def _keep(self, slot: tuple[str, str], lease: _Lease) -> None:
        if len(self._held) >= MAX_HELD:
            now = time.monotonic()
            self._held = {s: held for s, held in self._held.items() if held.ends_at > now}
            if len(self._held) >= MAX_HELD:  # dropping a lease only refuses early, never late
                self._held.clear()
        self._held[slot] = lease

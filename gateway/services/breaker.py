"""A circuit breaker per provider, and Retry-After holds per grant, for the free/busy path.

SECURITY.md T19: after THRESHOLD (5) consecutive failed calls to a provider (429, 5xx,
timeouts, unreadable answers, its token endpoint failing), the gateway stops calling that
provider for COOL_DOWN_SECONDS. Its rooms then answer exactly as for any provider failure:
"unknown" (or a cached answer within the configured stale bound, marked stale), never free.
When the cool-down ends the breaker is half-open: one caller, across every process, gets
to probe; a success closes the breaker, a failure opens it for another cool-down. The
gateway sets both from GATEWAY_BREAKER_FAILURES and GATEWAY_BREAKER_COOL_DOWN_SECONDS.

Slowness opens it too (issue 15 item 7): SLOW_CALLS (5) consecutive answers that took longer
than SLOW_SECONDS (2 s) open the breaker exactly as five failures do, because a provider that
answers in 5 s ties up the gateway's fetch threads and the cold requests waiting on them as
surely as one that fails. A slow answer is still used (it is an answer); it neither counts
as a failure nor resets the failures. The probe after the cool-down decides as before: a
prompt answer closes the breaker, a slow or failed one opens it for another cool-down.
GATEWAY_BREAKER_SLOW_CALLS and GATEWAY_BREAKER_SLOW_SECONDS set them.

A provider that says "Retry-After: N" for a grant gets no call for that grant for N seconds
(at most MAX_HOLD_SECONDS), from any process: without this, the next query a second later
would retry long before N.

The state is in Redis, not in the process. Per process, each of W gunicorn workers on R
replicas would need its own five failures and keep its own cool-down, so a dead provider
would go on receiving 5·W·R calls per cool-down, a Retry-After heard by one worker would be
ignored by the others, and a half-open probe could not be single. The cost is one Redis
round trip per *cold* fetch (and one per provider answer); the warm path, served from the
cache, never consults the breaker. Redis failing here fails the fetch like any other Redis
failure (the caller answers 503 or "unknown"), never as "closed, call anyway".
The keys and the Lua scripts that move them are in storage/breaker.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import metrics
from gateway.storage.breaker import BreakerStore

THRESHOLD = 5
COOL_DOWN_SECONDS = 30.0
PROBE_SECONDS = 15.0  # a probe that never reports (its process died) frees the slot after this
SLOW_CALLS = 5
SLOW_SECONDS = 2.0
FAILURE_MEMORY_SECONDS = 600  # failures (or slow answers) this old no longer count
MAX_HOLD_SECONDS = 600.0

CLOSED, OPEN, PROBE, HELD = "closed", "open", "probe", "held"


@dataclass
class CircuitBreaker:
    store: BreakerStore
    threshold: int = THRESHOLD
    cool_down_seconds: float = COOL_DOWN_SECONDS
    probe_seconds: float = PROBE_SECONDS
    slow_calls: int = SLOW_CALLS
    slow_seconds: float = SLOW_SECONDS

    def admit(self, provider: str, gid: str) -> str:
        """May a fetch for grant `gid` call `provider` now? CLOSED or PROBE: yes (PROBE: the
        one half-open try); OPEN or HELD: no."""
        answer = self.store.admit(
            provider,
            gid,
            threshold=self.threshold,
            probe_ms=int(self.probe_seconds * 1000),
            slow_threshold=self.slow_calls,
        )
        return _admitted(provider, answer)

    def admit_many(self, asks: list[tuple[str, str]]) -> list[str]:
        """`admit` for each (provider, gid) of a cold round, in one round trip."""
        answers = self.store.admit_many(
            asks,
            threshold=self.threshold,
            probe_ms=int(self.probe_seconds * 1000),
            slow_threshold=self.slow_calls,
        )
        return [_admitted(provider, n) for (provider, _), n in zip(asks, answers, strict=True)]

    def is_open(self, provider: str) -> bool:
        """Checked before a retry: a breaker that opened meanwhile stops the retries too."""
        if self.store.is_open(provider):
            metrics.breaker(provider, "rejected")
            return True
        return False

    def failure(self, provider: str) -> None:
        opened = self.store.failure(
            provider,
            thresholds=(self.threshold, self.slow_calls),
            cool_down_ms=int(self.cool_down_seconds * 1000),
            memory_ms=FAILURE_MEMORY_SECONDS * 1000,
        )
        if opened:
            metrics.breaker(provider, "opened")

    def answered(self, provider: str, seconds: float, prompt: set[str] | None = None) -> None:
        """The provider answered after `seconds`: a success, or a slow answer that counts
        towards opening the breaker (SLOW_CALLS in a row longer than SLOW_SECONDS). With
        `prompt`, a success is noted there for the cold round to record with its writes
        (`closed`), one per provider; a slow answer is counted at once either way."""
        if seconds <= self.slow_seconds:
            if prompt is not None:
                prompt.add(provider)
            else:
                self.success(provider)
            return
        opened = self.store.slow(
            provider,
            thresholds=(self.threshold, self.slow_calls),
            cool_down_ms=int(self.cool_down_seconds * 1000),
            memory_ms=FAILURE_MEMORY_SECONDS * 1000,
        )
        if opened:
            metrics.breaker(provider, "opened")

    def success(self, provider: str) -> None:
        self.closed(provider, *self.store.success(provider))

    def closed(self, provider: str, failures: int, slow: int) -> None:
        """A success reset these consecutive failures and slow answers."""
        if failures >= self.threshold or slow >= self.slow_calls:
            metrics.breaker(provider, "closed")

    def hold(self, provider: str, gid: str, seconds: float) -> None:
        """No call for this grant at this provider for `seconds` (its Retry-After)."""
        milliseconds = int(min(seconds, MAX_HOLD_SECONDS) * 1000)
        if milliseconds > 0:
            self.store.hold(provider, gid, milliseconds)

    def state(self, provider: str) -> str:
        """For tests and operators: closed, open or half-open (without taking the probe)."""
        if self.store.is_open(provider):
            return OPEN
        tripped = (
            self.store.failures(provider) >= self.threshold
            or self.store.slow_answers(provider) >= self.slow_calls
        )
        return "half-open" if tripped else CLOSED


def _admitted(provider: str, answer: int) -> str:
    state = {0: OPEN, 1: CLOSED, 2: PROBE, 3: HELD}[answer]
    if state == PROBE:
        metrics.breaker(provider, "half_open")
    elif state != CLOSED:
        metrics.breaker(provider, "rejected" if state == OPEN else "held")
    return state

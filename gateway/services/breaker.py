"""A circuit breaker per provider, and Retry-After holds per grant, for the free/busy path.

SECURITY.md T19: after THRESHOLD (5) consecutive failed calls to a provider (429, 5xx,
timeouts, unreadable answers, its token endpoint failing), the gateway stops calling that
provider for COOL_DOWN_SECONDS. Its rooms then answer exactly as for any provider failure:
"unknown" (or a cached answer within the configured stale bound, marked stale), never free.
When the cool-down ends the breaker is half-open: one caller, across every process, gets
to probe; a success closes the breaker, a failure opens it for another cool-down. The
gateway sets both from GATEWAY_BREAKER_FAILURES and GATEWAY_BREAKER_COOL_DOWN_SECONDS.

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

    gw:{breaker:P}:failures   string  consecutive failures of provider P; TTL FAILURE_MEMORY
    gw:{breaker:P}:open       string  present while P's breaker is open; PX the cool-down
    gw:{breaker:P}:probe      string  the one half-open probe in flight; PX PROBE_SECONDS
    gw:{breaker:P}:hold:H     string  a grant told to wait; H = sha256(grant id); PX its wait

No key holds personal data: P is a configured provider name and H a digest of an opaque id;
every key expires. The hash tag keeps one provider's keys in one Cluster slot (the scripts
below touch several at once).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis

from gateway import metrics

THRESHOLD = 5
COOL_DOWN_SECONDS = 30.0
PROBE_SECONDS = 15.0  # a probe that never reports (its process died) frees the slot after this
FAILURE_MEMORY_SECONDS = 600  # failures this old no longer count as consecutive
MAX_HOLD_SECONDS = 600.0

CLOSED, OPEN, PROBE, HELD = "closed", "open", "probe", "held"

# KEYS: failures, open, probe, hold. ARGV: threshold, probe ms.
# 0 rejected (open, or half-open with a probe already out), 1 closed, 2 probe, 3 held
_ADMIT = """
if redis.call('EXISTS', KEYS[4]) == 1 then return 3 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return 1 end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then return 2 end
return 0
"""

# KEYS: failures, open, probe. ARGV: threshold, cool-down ms, memory ms.
# Returns 1 when this failure opened the breaker.
_FAILURE = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[3])
if n >= tonumber(ARGV[1]) and redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""

# KEYS: failures, open, probe. Returns the failure count it reset.
_SUCCESS = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return n
"""


def _tag(provider: str) -> str:
    return f"gw:{{breaker:{provider}}}"


def hold_key(provider: str, gid: str) -> str:
    return f"{_tag(provider)}:hold:{hashlib.sha256(gid.encode()).hexdigest()}"


@dataclass
class CircuitBreaker:
    client: redis.Redis
    threshold: int = THRESHOLD
    cool_down_seconds: float = COOL_DOWN_SECONDS
    probe_seconds: float = PROBE_SECONDS

    def __post_init__(self) -> None:
        self._admit = self.client.register_script(_ADMIT)
        self._failure = self.client.register_script(_FAILURE)
        self._success = self.client.register_script(_SUCCESS)

    def _keys(self, provider: str) -> list[str]:
        tag = _tag(provider)
        return [f"{tag}:failures", f"{tag}:open", f"{tag}:probe"]

    def admit(self, provider: str, gid: str) -> str:
        """May a fetch for grant `gid` call `provider` now? CLOSED or PROBE: yes (PROBE: the
        one half-open try); OPEN or HELD: no."""
        answer = int(
            self._admit(
                keys=[*self._keys(provider), hold_key(provider, gid)],
                args=[self.threshold, int(self.probe_seconds * 1000)],
            )
        )
        state = {0: OPEN, 1: CLOSED, 2: PROBE, 3: HELD}[answer]
        if state == PROBE:
            metrics.breaker(provider, "half_open")
        elif state != CLOSED:
            metrics.breaker(provider, "rejected" if state == OPEN else "held")
        return state

    def is_open(self, provider: str) -> bool:
        """Checked before a retry: a breaker that opened meanwhile stops the retries too."""
        if self.client.exists(self._keys(provider)[1]):
            metrics.breaker(provider, "rejected")
            return True
        return False

    def failure(self, provider: str) -> None:
        opened = self._failure(
            keys=self._keys(provider),
            args=[
                self.threshold,
                int(self.cool_down_seconds * 1000),
                FAILURE_MEMORY_SECONDS * 1000,
            ],
        )
        if int(opened):
            metrics.breaker(provider, "opened")

    def success(self, provider: str) -> None:
        if int(self._success(keys=self._keys(provider))) >= self.threshold:
            metrics.breaker(provider, "closed")

    def hold(self, provider: str, gid: str, seconds: float) -> None:
        """No call for this grant at this provider for `seconds` (its Retry-After)."""
        milliseconds = int(min(seconds, MAX_HOLD_SECONDS) * 1000)
        if milliseconds > 0:
            self.client.set(hold_key(provider, gid), "1", px=milliseconds)

    def state(self, provider: str) -> str:
        """For tests and operators: closed, open or half-open (without taking the probe)."""
        failures_key, open_key, _ = self._keys(provider)
        if self.client.exists(open_key):
            return OPEN
        failures = self.client.get(failures_key)
        return "half-open" if int(str(failures or 0)) >= self.threshold else CLOSED

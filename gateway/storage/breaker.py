"""The circuit breakers' and Retry-After holds' state in Redis (services/breaker.py says
what they are for and why the state is shared by every process).

    gw:{breaker:P}:failures   string  consecutive failures of provider P; TTL FAILURE_MEMORY
    gw:{breaker:P}:slow       string  consecutive slow answers of provider P; TTL FAILURE_MEMORY
    gw:{breaker:P}:open       string  present while P's breaker is open; PX the cool-down
    gw:{breaker:P}:probe      string  the one half-open probe in flight; PX PROBE_SECONDS
    gw:{breaker:P}:hold:H     string  a grant told to wait; H = sha256(grant id); PX its wait

No key holds personal data: P is a configured provider name and H a digest of an opaque id;
every key expires. The hash tag keeps one provider's keys in one Cluster slot (the scripts
below touch several at once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import redis

from gateway.storage.grant_scripts import queue_eval

# KEYS: failures, open, probe, slow, hold. ARGV: threshold, probe ms, slow threshold.
# 0 rejected (open, or half-open with a probe already out), 1 closed, 2 probe, 3 held
_ADMIT = """
if redis.call('EXISTS', KEYS[5]) == 1 then return 3 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local s = tonumber(redis.call('GET', KEYS[4]) or '0')
if n < tonumber(ARGV[1]) and s < tonumber(ARGV[3]) then return 1 end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then return 2 end
return 0
"""

# KEYS: the counter to count (failures or slow), open, probe, the other counter.
# ARGV: this counter's threshold, cool-down ms, memory ms, the other's threshold.
# Returns 1 when this bad call opened the breaker. A bad call while the other counter is
# already past its threshold (a failed probe after slow answers opened it, or the reverse)
# opens it again as well: a probe that fails in either way buys another cool-down.
_BAD_CALL = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[3])
local other = tonumber(redis.call('GET', KEYS[4]) or '0')
if (n >= tonumber(ARGV[1]) or other >= tonumber(ARGV[4]))
   and redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""

# KEYS: failures, open, probe, slow. Returns the failure and slow counts it reset.
_SUCCESS = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local s = tonumber(redis.call('GET', KEYS[4]) or '0')
if n > 0 or s > 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4]) end
return {n, s}
"""


def _tag(provider: str) -> str:
    return f"gw:{{breaker:{provider}}}"


def hold_key(provider: str, gid: str) -> str:
    return f"{_tag(provider)}:hold:{hashlib.sha256(gid.encode()).hexdigest()}"


def _keys(provider: str) -> list[str]:
    tag = _tag(provider)
    return [f"{tag}:failures", f"{tag}:open", f"{tag}:probe", f"{tag}:slow"]


# for a cold fan-out's pipelines (storage/freebusy_rounds.py): the same scripts and keys
SUCCESS, provider_keys = _SUCCESS, _keys


class BreakerStore:
    """One provider's failure count, open mark and probe slot, and one grant's hold; each
    change that reads and writes several keys is one script, so processes do not race."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._admit = client.register_script(_ADMIT)
        self._bad_call = client.register_script(_BAD_CALL)
        self._success = client.register_script(_SUCCESS)

    def admit(
        self, provider: str, gid: str, *, threshold: int, probe_ms: int, slow_threshold: int
    ) -> int:
        """0 rejected (open, or half-open with a probe out), 1 closed, 2 probe, 3 held."""
        return int(
            self._admit(
                keys=[*_keys(provider), hold_key(provider, gid)],
                args=[threshold, probe_ms, slow_threshold],
            )
        )

    def admit_many(
        self,
        asks: Sequence[tuple[str, str]],
        *,
        threshold: int,
        probe_ms: int,
        slow_threshold: int,
    ) -> list[int]:
        """`admit` for each (provider, gid) of a cold round, in one pipeline."""
        if not asks:
            return []
        pipe = self.client.pipeline(transaction=False)
        for provider, gid in asks:
            names = [*_keys(provider), hold_key(provider, gid)]
            queue_eval(pipe, _ADMIT, names, threshold, probe_ms, slow_threshold)
        return [int(n) for n in pipe.execute()]

    def is_open(self, provider: str) -> bool:
        return bool(self.client.exists(_keys(provider)[1]))

    def failure(
        self, provider: str, *, thresholds: tuple[int, int], cool_down_ms: int, memory_ms: int
    ) -> bool:
        """Count one failure; True when this one opened the breaker. `thresholds`: the
        failures' and the slow answers'."""
        failures, opened, probe, slow = _keys(provider)
        found = self._bad_call(
            keys=[failures, opened, probe, slow],
            args=[thresholds[0], cool_down_ms, memory_ms, thresholds[1]],
        )
        return bool(int(found))

    def slow(
        self, provider: str, *, thresholds: tuple[int, int], cool_down_ms: int, memory_ms: int
    ) -> bool:
        """Count one answer slower than the limit; True when this one opened the breaker.
        `thresholds`: the failures' and the slow answers'."""
        failures, opened, probe, slow = _keys(provider)
        found = self._bad_call(
            keys=[slow, opened, probe, failures],
            args=[thresholds[1], cool_down_ms, memory_ms, thresholds[0]],
        )
        return bool(int(found))

    def success(self, provider: str) -> tuple[int, int]:
        """Close the breaker; the consecutive failures and slow answers it reset."""
        failures, slow = self._success(keys=_keys(provider))
        return int(failures), int(slow)

    def hold(self, provider: str, gid: str, milliseconds: int) -> None:
        self.client.set(hold_key(provider, gid), "1", px=milliseconds)

    def failures(self, provider: str) -> int:
        return int(str(self.client.get(_keys(provider)[0]) or 0))

    def slow_answers(self, provider: str) -> int:
        return int(str(self.client.get(_keys(provider)[3]) or 0))

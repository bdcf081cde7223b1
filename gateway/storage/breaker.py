"""The circuit breakers' and Retry-After holds' state in Redis (services/breaker.py says
what they are for and why the state is shared by every process).

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

import redis

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


def _keys(provider: str) -> list[str]:
    tag = _tag(provider)
    return [f"{tag}:failures", f"{tag}:open", f"{tag}:probe"]


class BreakerStore:
    """One provider's failure count, open mark and probe slot, and one grant's hold; each
    change that reads and writes several keys is one script, so processes do not race."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._admit = client.register_script(_ADMIT)
        self._failure = client.register_script(_FAILURE)
        self._success = client.register_script(_SUCCESS)

    def admit(self, provider: str, gid: str, *, threshold: int, probe_ms: int) -> int:
        """0 rejected (open, or half-open with a probe out), 1 closed, 2 probe, 3 held."""
        return int(
            self._admit(
                keys=[*_keys(provider), hold_key(provider, gid)], args=[threshold, probe_ms]
            )
        )

    def is_open(self, provider: str) -> bool:
        return bool(self.client.exists(_keys(provider)[1]))

    def failure(self, provider: str, *, threshold: int, cool_down_ms: int, memory_ms: int) -> bool:
        """Count one failure; True when this one opened the breaker."""
        opened = self._failure(keys=_keys(provider), args=[threshold, cool_down_ms, memory_ms])
        return bool(int(opened))

    def success(self, provider: str) -> int:
        """Close the breaker; the consecutive failures it reset."""
        return int(self._success(keys=_keys(provider)))

    def hold(self, provider: str, gid: str, milliseconds: int) -> None:
        self.client.set(hold_key(provider, gid), "1", px=milliseconds)

    def failures(self, provider: str) -> int:
        return int(str(self.client.get(_keys(provider)[0]) or 0))

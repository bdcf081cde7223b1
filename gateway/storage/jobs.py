"""The job queue's Redis side: huey's storage on the gateway's own client, JSON messages, and
the ledger that makes a periodic job run once per period across every worker process.

Every key sits under one hash tag, `{jobs}`, so on a Redis Cluster the whole queue lives in
one slot: huey's commands each touch one key (a list, a sorted set, a hash; its one script
reads and trims the schedule), and the ledger's script touches keys of the same tag. The
names start with `gw:` like every other key, so the ACL user limited to `gw:*`
(deploy/REDIS.md) reaches them too.

    gw:{jobs}:queue             list   JSON job messages waiting for a worker
    gw:{jobs}:schedule          zset   JSON job messages due later (retries), by due time
    gw:{jobs}:results|counters  hash   huey's results and counters (results are off: empty)
    gw:{jobs}:done:JOB:P        string when period P of JOB finished; expires after 2 periods
    gw:{jobs}:lease:JOB         string "holder period started": a run is under way; PX lease,
                                       renewed while it runs
    gw:{jobs}:started:JOB       string the same, kept until the run ends: found without its
                                       lease, the run died (a killed worker) and is retried

Nothing read back is unpickled: huey pickles by default, so messages are JSON here
(`JsonMessages`), and they carry only a job's name and huey's bookkeeping, no personal data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from huey.registry import Message
from huey.serializer import Serializer
from huey.storage import SCHEDULE_POP_LUA, RedisStorage

from gateway.storage.keys import PREFIX

TAG = "{jobs}"


def job_key(*parts: str) -> str:
    return ":".join((PREFIX, TAG, *parts))


class JobQueueStorage(RedisStorage):
    """huey's Redis storage, on a client built by storage/redis_client.py (one server,
    Sentinel or Cluster) instead of a connection pool of its own, with `gw:{jobs}` keys.
    The queue is read without blocking (RPOP, the consumer polls with back-off): the
    gateway's client gives up on a read after half a second, which a BRPOP would outlast."""

    def __init__(self, name: str, *, client: redis.Redis, **_: Any) -> None:
        self.pool = None
        self.conn = client
        self.connection_params: dict[str, Any] = {}
        self._pop = client.register_script(SCHEDULE_POP_LUA)
        self.name = name
        self.queue_key = job_key("queue")
        self.schedule_key = job_key("schedule")
        self.result_key = job_key("results")
        self.counter_key = job_key("counters")
        self.notify_prefix = job_key("notify") + ":"
        self.notify_result = False
        self.notify_result_ttl = 60
        self.blocking = False
        self.read_timeout = 1

    def close(self) -> None:
        """Forking consumers close the parent's connection; the client reconnects itself."""
        return None


class JsonMessages(Serializer):
    """huey's messages as JSON, never pickle: a datum planted in Redis cannot become code.
    Only what the gateway's jobs use is accepted: no callbacks, chords or non-JSON args."""

    def _serialize(self, data: Any) -> bytes:
        if not isinstance(data, Message):
            raise TypeError("only job messages are stored (huey results are off)")
        if data.on_complete or data.on_error or data.chord_config:
            raise TypeError("job pipelines and chords are not used by the gateway")
        fields = data._asdict()
        for name in ("eta", "expires", "expires_resolved"):
            if isinstance(fields[name], datetime):
                fields[name] = {"datetime": fields[name].isoformat()}
        return json.dumps(fields, separators=(",", ":")).encode()

    def _deserialize(self, data: bytes) -> Any:
        fields = json.loads(data)
        if not isinstance(fields, dict) or set(fields) - set(Message._fields):
            raise ValueError("not a job message")
        for name in ("eta", "expires", "expires_resolved"):
            value = fields.get(name)
            if isinstance(value, dict):
                fields[name] = datetime.fromisoformat(str(value["datetime"]))
        fields["args"] = tuple(fields.get("args") or ())
        return Message(**fields)


# KEYS: done, lease, started. ARGV: holder-record, lease ms.
# Returns "done" (this period ran), "busy" (a run is under way), "claimed", or
# "abandoned:<record>" (a run died without finishing: claimed again, to retry it).
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'busy' end
local died = redis.call('GET', KEYS[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[1])
if died then return 'abandoned:' .. died end
return 'claimed'
"""

# KEYS: lease, started. ARGV: holder-record, lease ms. 1 if still ours (renewed).
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: done, lease, started. ARGV: holder-record, finished at, done ttl s, succeeded (1/0).
_FINISH = """
if ARGV[4] == '1' then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


@dataclass(frozen=True)
class Claim:
    """The ledger's answer to "may this worker run JOB's period now?"."""

    outcome: str  # "claimed", "abandoned", "done", "busy"
    holder: str = ""
    abandoned: str = ""  # the dead run's "holder period started"

    @property
    def granted(self) -> bool:
        return self.outcome in ("claimed", "abandoned")


class JobLedger:
    """Who runs which period of each job: a period runs once, whichever worker gets there
    first; a run holds a lease it renews, so a run whose worker died is found and retried."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._finish = client.register_script(_FINISH)

    @staticmethod
    def _keys(job: str, period: int) -> list[str]:
        return [job_key("done", job, str(period)), job_key("lease", job), job_key("started", job)]

    def claim(self, job: str, period: int, holder: str, lease_seconds: float) -> Claim:
        answer = self._claim(keys=self._keys(job, period), args=[holder, int(lease_seconds * 1000)])
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        outcome, _, died = text.partition(":")
        return Claim(outcome, holder if outcome in ("claimed", "abandoned") else "", died)

    def renew(self, job: str, holder: str, lease_seconds: float) -> bool:
        keys = self._keys(job, 0)[1:]
        return bool(self._renew(keys=keys, args=[holder, int(lease_seconds * 1000)]))

    def finish(
        self, job: str, period: int, holder: str, *, at: float, keep_seconds: float, ok: bool
    ) -> None:
        self._finish(
            keys=self._keys(job, period),
            args=[holder, f"{at:.3f}", max(1, int(keep_seconds)), "1" if ok else "0"],
        )

    def is_done(self, job: str, period: int) -> bool:
        return bool(self.client.exists(job_key("done", job, str(period))))

"""The Lua scripts that make a grant's writes atomic (storage/grants.py runs them).

Each is a check and a write in one step, so a writer that lost its lock or raced a newer
version writes nothing: the fenced write of refreshed tokens, the lock's release by its
holder only, the shredding of an ended grant in deletes only (Redis runs those even at its
memory limit, where it refuses MULTI), the first record of an unfinished revocation, and a
data key's rewrap during key rotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# KEYS: grant hash, lock. ARGV: lock holder, expected version, then field/value pairs.
WRITE_IF_FENCED = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
"""
# KEYS: lock. ARGV: holder. Only the holder releases.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: grant hash, grant set, lock, cached index, cached keys... ARGV: "forget" or "keep",
# grant id, secret fields... Deletes only (DEL, HDEL, SREM): they run at the memory limit.
SHRED = """
if ARGV[1] == 'forget' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
else
  redis.call('HDEL', KEYS[1], unpack(ARGV, 3))
end
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
"""
# KEYS: the unfinished-revocations hash. ARGV: field, value. (Not HSETNX: see the ACL.)
KEEP_IF_ABSENT = """
if redis.call('HGET', KEYS[1], ARGV[1]) then return 0 end
return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
"""
# KEYS: grant hash. ARGV: expected wrapped key, new wrapped key.
REWRAP = """
if redis.call('HGET', KEYS[1], 'dk') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'dk', ARGV[2])
return 1
"""


def queue_eval(pipe: Any, script: str, names: Sequence[str], *args: object) -> None:
    """Queue `script` on a pipeline as EVAL (not EVALSHA: a pipeline cannot load a script
    it finds missing midway; Redis keeps an EVAL's script by its digest, compiled once).
    Through `execute_command`: a Cluster's pipeline has no `eval`, but routes the command
    by its keys."""
    pipe.execute_command("EVAL", script, len(names), *names, *args)

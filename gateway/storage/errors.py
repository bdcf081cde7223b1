"""What a storage failure looks like to the layers above, so that only storage/ imports redis.

These are redis-py's own classes under names that say what they mean to a caller: an
`except StorageError` catches exactly what `except redis.RedisError` did, and a log line
still names the redis class (`storage error: redis.exceptions.ConnectionError`).
"""

from __future__ import annotations

import redis

# Redis is unreachable, timed out, or refused a command.
StorageError = redis.RedisError
# Redis refused a write at its memory limit (`maxmemory`); deletes still run.
StorageFull = redis.exceptions.OutOfMemoryError

# Redis refused the credentials of GATEWAY_REDIS_URL.
StorageCredentialsRefused = redis.exceptions.AuthenticationError
# Redis did not answer (down, unreachable, timed out).
StorageUnreachable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

__all__ = ["StorageCredentialsRefused", "StorageError", "StorageFull", "StorageUnreachable"]

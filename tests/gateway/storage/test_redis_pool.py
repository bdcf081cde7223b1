"""A process's Redis client lets a cold free/busy fan-out's threads (up to 256 grant
fetches, services/freebusy_fetch.py) each hold a connection at once: redis-py's default
pool of 100 failed the 101st with MaxConnectionsError, and that grant's rooms read
"unknown" (issue 17)."""

from __future__ import annotations

import threading

import redis

from gateway.services.freebusy_fetch import FETCH_THREADS
from gateway.storage.redis_client import MAX_CONNECTIONS


def test_every_fetch_thread_can_wait_on_redis_at_once(redis_client: redis.Redis) -> None:
    assert MAX_CONNECTIONS > FETCH_THREADS  # and room for the request threads besides
    threads = FETCH_THREADS
    all_in = threading.Barrier(threads)
    failures: list[str] = []

    def wait_on_redis(n: int) -> None:
        try:
            all_in.wait(timeout=30)
            # a blocking pop holds its connection for the whole wait, as a slow command would
            redis_client.blpop([f"gw:test:pool:{n}"], timeout=0.2)
        except Exception as error:  # any failure is the finding
            failures.append(type(error).__name__)

    running = [threading.Thread(target=wait_on_redis, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()

    assert failures == []

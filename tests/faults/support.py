"""Helpers of the fault-injection suite: a clock on the emulator's call counters, sockets
that never accept or never answer, Redis inspection (hosts and rooms: tests/hosts.py).

Everything is real: the gateway's own services, the emulator over HTTPS, redis-server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from emulator import EmulatorClient
from gateway.storage import keys

FREEBUSY_ENDPOINT = {"google": "google.freebusy", "microsoft": "microsoft.getschedule"}
TOKEN_ENDPOINT = {"google": "google.token", "microsoft": "microsoft.token"}


def measured(text: str) -> None:
    """A figure for the report (run pytest with -s to see them)."""
    print(f"\nMEASURED {text}")


class CallClock:
    """Watches one emulator endpoint's call counter from a thread and notes when each new
    call was counted (poll interval POLL, so each time is late by at most POLL plus one
    control round trip; a gap between two calls is exact to within about that much)."""

    POLL = 0.005

    def __init__(self, emulator: Any, endpoint: str) -> None:
        self.client = EmulatorClient(emulator.url, emulator.ca_path)
        self.endpoint = endpoint
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _count(self) -> int:
        return self.client.calls().get(self.endpoint, 0)

    def _watch(self) -> None:
        seen = self._seen
        while not self._stop.is_set():
            now = self._count()
            stamp = time.monotonic()
            self.times.extend([stamp] * (now - seen))
            seen = now
            self._polls += 1
            time.sleep(self.POLL)

    def caught_up(self, timeout: float = 10.0) -> None:
        """Wait until the counter has been read again since this call, so `times` holds
        every call made before it (a poll under load can take far longer than POLL)."""
        target = self._polls + 2  # the poll under way may have read before this call
        deadline = time.monotonic() + timeout
        while self._polls < target and time.monotonic() < deadline:
            time.sleep(self.POLL)

    def __enter__(self) -> CallClock:
        self._seen = self._count()  # before anything is called
        self._polls = 0
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.caught_up()
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.close()

    @property
    def gaps(self) -> list[float]:
        return [later - earlier for earlier, later in zip(self.times, self.times[1:], strict=False)]


@contextmanager
def never_accepting() -> Iterator[str]:
    """A TCP port whose accept queue is full: a connect attempt hangs (a black hole)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        filler.close()
        server.close()


@contextmanager
def accepting_and_silent() -> Iterator[str]:
    """A TCP port that accepts every connection and never sends a byte (a hung server)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        server.close()


def keys_of_grant(client: redis.Redis, uid: str, gid: str) -> list[str]:
    """Every key that belongs to one grant besides its record: tokens live in the record,
    the lock, fetch lock and cache index next to it, cached free/busy under fb:GID."""
    tag = keys.user_tag(uid)
    found = set(client.scan_iter(f"{keys.grant(uid, gid)}:*"))
    found |= set(client.scan_iter(f"{tag}:fb:{gid}:*"))
    return sorted(str(k) for k in found)


SECRET_FIELDS = ("dk", "tokens", "subject")


def secrets_left(client: redis.Redis, uid: str, gid: str) -> list[str]:
    record = client.hgetall(keys.grant(uid, gid))
    return [field for field in SECRET_FIELDS if field in record]

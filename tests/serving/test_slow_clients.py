"""Fifty slow clients do not stop `make serve`: its front takes each request whole before
gunicorn sees it, and closes a connection whose headers are not complete in time.

The test runs the real `make serve` (gateway.front, then gunicorn with
deploy/gunicorn.conf.py on a unix socket), with two workers of four threads: fewer threads
than slow clients, so without the front every thread is held and nothing else is answered.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.redis_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_HOST = "127.0.0.1:8000"  # conftest's GATEWAY_PUBLIC_URL
STARTUP_SECONDS = 60.0
HEADER_TIMEOUT = 8  # FRONT_HEADER_TIMEOUT for this test (the default is 10 s)
SLOW_CLIENTS = 50
BYTE_EVERY = 0.5
# A head that would take minutes at one byte per BYTE_EVERY: it never completes here.
SLOW_HEAD = f"GET /healthz HTTP/1.1\r\nHost: {PUBLIC_HOST}\r\nX-Slow: {'a' * 400}\r\n\r\n".encode()
GENEROUS = 30.0  # seconds any single wait may take on a loaded machine before it is a failure


class Served:
    """`make serve` in its own process group, on a free port and a private socket folder."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="gw-serve-")  # short: a unix socket path
        venv = Path(sys.executable).parent.parent
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "serve",
                f"VENV={venv}",
                f"SERVE_BIND=127.0.0.1:{self.port}",
                f"SERVE_SOCKET={self.folder}/gunicorn.sock",
                "-o",
                f"{venv}/bin/.installed",  # the venv is there: never reinstall it from a test
            ],
            cwd=ROOT,
            env={
                **os.environ,
                **env,
                "WEB_CONCURRENCY": "2",
                "FRONT_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            },
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def tail(self) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-20:])

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "make serve exited:\n" + self.tail()
            try:
                if requests.get(self.url("/readyz"), headers=HOST, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("make serve did not start:\n" + self.tail())

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


HOST = {"Host": PUBLIC_HOST}


class SlowClients:
    """Sockets that send SLOW_HEAD one byte every BYTE_EVERY seconds, driven by one thread;
    each remembers whether, and with what answer, the server closed it."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self.sent = [0] * count
        self.closed: dict[int, bytes] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drive, daemon=True)
        self._thread.start()

    def _drive(self) -> None:
        while not self._stop.is_set():
            for index, sock in enumerate(self.sockets):
                if index in self.closed:
                    continue
                # poll, not select: in a long run this process's descriptors pass 1024
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                readable = bool(poller.poll(0))
                answer = b""
                try:
                    if readable:
                        answer = sock.recv(4096)
                        raise ConnectionResetError  # a slow client never gets an answer early
                    sock.send(SLOW_HEAD[self.sent[index] : self.sent[index] + 1])
                    with self.lock:
                        self.sent[index] += 1
                except OSError:
                    with self.lock:
                        self.closed[index] = answer
            time.sleep(BYTE_EVERY)

    def wait(self, condition: str, check: object, seconds: float = GENEROUS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if check():  # type: ignore[operator]
                    return
            time.sleep(0.1)
        raise AssertionError(f"slow clients: {condition} did not happen within {seconds} s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def served(gateway_env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    server = Served(gateway_env, tmp_path / "serve.log")
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


def test_fifty_slow_clients_leave_the_service_answering_and_are_cut_off_after_the_header_timeout(
    served: Served,
) -> None:
    slow = SlowClients(served.port, SLOW_CLIENTS)
    try:
        # every slow client is in the middle of its headers, holding its connection
        slow.wait("three bytes from each", lambda: min(slow.sent) >= 3 and not slow.closed)

        answers = []
        for n in range(20):
            path = "/readyz" if n % 2 else "/healthz"
            answers.append(requests.get(served.url(path), headers=HOST, timeout=GENEROUS))
        with slow.lock:
            still_open = SLOW_CLIENTS - len(slow.closed)
        posted = requests.post(
            served.url("/v1/freebusy"), headers=HOST, json={"rooms": ["x"]}, timeout=GENEROUS
        )

        assert [a.status_code for a in answers] == [200] * 20
        assert posted.status_code == 401  # a body, buffered and passed on; no credential
        assert still_open == SLOW_CLIENTS  # answered while all fifty were held open

        # each slow client is closed once its headers have taken longer than the timeout
        slow.wait("all closed", lambda: len(slow.closed) == SLOW_CLIENTS, HEADER_TIMEOUT + GENEROUS)
        assert {answer.split(b"\r\n", 1)[0] for answer in slow.closed.values()} <= {
            b"HTTP/1.1 408 Request Timeout",
            b"",
        }
        assert max(slow.sent) < len(SLOW_HEAD)  # none of them ever finished its headers
    finally:
        slow.close()
    assert requests.get(served.url("/healthz"), headers=HOST, timeout=GENEROUS).status_code == 200

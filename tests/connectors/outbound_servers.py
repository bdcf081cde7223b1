"""Small real HTTP(S) servers on loopback for the outbound guard's tests."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trustme

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class Seen:
    """What the server saw: each request's path and Host header."""

    requests: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def serve(
    handle: Handler,
    *,
    host: str = "127.0.0.1",
    ca: trustme.CA | None = None,
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
) -> Iterator[tuple[int, Seen]]:
    """A threaded server on `host`, TLS with a certificate from `ca` for `names` if given."""
    seen = Seen()

    class _Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _any(self) -> None:
            seen.requests.append((self.path, self.headers.get("Host", "")))
            handle(self)

        do_GET = do_POST = do_PROPFIND = do_REPORT = _any

    server = http.server.ThreadingHTTPServer((host, 0), _Handler)
    server.daemon_threads = True
    if ca is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def answer(
    status: int = 200, body: bytes = b"ok", headers: dict[str, str] | None = None
) -> Handler:
    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handle


def drip(seconds: float, every: float = 0.1) -> Handler:
    """Headers at once, then one byte every `every` seconds for `seconds`."""

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        count = int(seconds / every)
        request.send_response(200)
        request.send_header("Content-Length", str(count))
        request.end_headers()
        try:
            for _ in range(count):
                request.wfile.write(b"x")
                request.wfile.flush()
                time.sleep(every)
        except OSError:
            return

    return handle


def start_threads() -> int:
    return threading.active_count()

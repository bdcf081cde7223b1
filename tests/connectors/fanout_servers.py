"""Small real HTTP(S) servers on loopback for tests/connectors/test_fanout_http.py: a
recording server (TLS with a trustme certificate, or plain) and a proxy that writes
down request lines."""

from __future__ import annotations

import http.server
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trustme

ANSWER = b'{"value": []}'
TOGETHER = 24  # calls in flight at once: more than a requests session's default pool (10)


@dataclass
class Seen:
    """Each request as it came: (client port, request line, headers, body)."""

    requests: list[tuple[int, str, dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    together: threading.Barrier = field(default_factory=lambda: threading.Barrier(TOGETHER))

    def lines(self) -> list[str]:
        return [line for _, line, _, _ in self.requests]


def recorder(seen: Seen) -> type[http.server.BaseHTTPRequestHandler]:
    class Recorder(http.server.BaseHTTPRequestHandler):
        """Answers by path: /cookie sets a cookie, /moved redirects, /slow never answers,
        /garbage is not HTTP, anything else a JSON object."""

        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            port = self.client_address[1]
            seen.requests.append((port, self.requestline, dict(self.headers.items()), body))
            if self.path.startswith("/slow"):
                seen.release.wait(10)
                return
            if self.path.startswith("/together"):  # answered once all are in flight
                seen.together.wait(10)
            if self.path.startswith("/garbage"):
                self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
                self.close_connection = True
                return
            self.send_response(302 if self.path.startswith("/moved") else 200)
            if self.path.startswith("/cookie"):
                self.send_header("Set-Cookie", "affinity=node-7; Path=/")
            if self.path.startswith("/moved"):
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(ANSWER)))
            self.end_headers()
            self.wfile.write(ANSWER)

        do_GET = do_POST = _answer

    return Recorder


class Server:
    def __init__(self, ca: trustme.CA | None = None, names: tuple[str, ...] = ("127.0.0.1",)):
        self.seen = Seen()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), recorder(self.seen))
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(*names).configure_cert(context)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.seen.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class FirstLine(socketserver.StreamRequestHandler):
    """A proxy that writes down each request line and refuses it (502)."""

    seen: list[str] = []  # noqa: RUF012

    def handle(self) -> None:
        FirstLine.seen.append(self.rfile.readline().decode("latin-1").strip())
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        self.wfile.write(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )


@contextmanager
def refusing_proxy() -> Iterator[str]:
    """A `FirstLine` proxy on a free port, its URL; what it saw starts empty."""
    FirstLine.seen = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FirstLine)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

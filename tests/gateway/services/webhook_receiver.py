"""A booking frontend's webhook receiver for the change-feed tests: a real HTTPS server on
loopback (its own CA, which the gateway is told to trust) that keeps every request and
answers with the statuses it is given, then 204."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    ca_path: Path
    failures: list[int] = field(default_factory=list)  # answered first, in order
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_type(self, kind: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if f'"type":"{kind}"'.encode() in r.body]


@contextmanager
def webhook_receiver(tmp_path: Path) -> Iterator[Receiver]:
    ca = trustme.CA()
    ca_path = tmp_path / "receiver-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    state: dict[str, Receiver] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            receiver = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.received.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = receiver.failures.pop(0) if receiver.failures else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    state["receiver"] = Receiver(f"https://127.0.0.1:{port}/hooks/rooms", ca_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

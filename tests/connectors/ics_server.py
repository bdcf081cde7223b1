"""A real HTTPS server publishing an ICS feed at a secret address, for the tests.

A threaded `http.server` on loopback, TLS with a trustme certificate, serving the feed at
one secret path (anything else: 404) with an ETag and a Last-Modified, and answering 304
to a request whose If-None-Match or If-Modified-Since matches (RFC 7232). The tests change
what it does while it runs (`Publisher`): the feed's text, the answer's status (a reset
address: 404), a delay (a slow server), a redirect; it counts its 200s and 304s.
"""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trustme

SECRET_PATH = "/calendar/ical/private-7f3c9a1e5b2d4c68a0f1e2d3c4b5a697/basic.ics"


@dataclass
class Publisher:
    """What the server publishes and how; the tests change it while it runs."""

    feed: bytes = b""
    etag: str | None = '"v1"'
    last_modified: str | None = "Wed, 18 Nov 2026 10:00:00 GMT"
    status: int = 200
    delay_seconds: float = 0.0
    redirect_to: str | None = None
    content_type: str = "text/calendar; charset=utf-8"
    versions: int = 0
    answered: dict[int, int] = field(default_factory=dict)
    conditions: list[tuple[str | None, str | None]] = field(default_factory=list)

    def publish(self, feed: str | bytes, etag: str | None = None) -> None:
        """A new version of the feed (a new ETag, so caches see it changed)."""
        self.feed = feed.encode() if isinstance(feed, str) else feed
        if etag is not None:
            self.etag = etag
            self.versions += 1
            self.last_modified = f"Thu, {18 + self.versions} Nov 2026 10:00:00 GMT"

    def count(self, status: int) -> int:
        return self.answered.get(status, 0)


@dataclass
class FeedServer:
    port: int
    ca_path: str
    publisher: Publisher

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}{SECRET_PATH}"

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _handler(publisher: Publisher) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _send(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            publisher.answered[status] = publisher.answered.get(status, 0) + 1
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            seen = (self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"))
            publisher.conditions.append(seen)
            if publisher.delay_seconds:
                time.sleep(publisher.delay_seconds)
            try:
                if self.path != SECRET_PATH:
                    self._send(404, b"Not Found")
                elif publisher.redirect_to:
                    self._send(302, headers={"Location": publisher.redirect_to})
                elif publisher.status != 200:
                    self._send(publisher.status, b"<html><body>No.</body></html>")
                elif _unchanged(publisher, *seen):
                    self._send(304, headers=_validators(publisher))
                else:
                    headers = {"Content-Type": publisher.content_type, **_validators(publisher)}
                    self._send(200, publisher.feed, headers)
            except OSError:
                return  # the client gave up (the slow-server tests)

    return Handler


def _unchanged(publisher: Publisher, if_none_match: str | None, since: str | None) -> bool:
    """RFC 7232 §6: If-None-Match decides when present; If-Modified-Since only without it."""
    if if_none_match is not None:
        return publisher.etag is not None and if_none_match == publisher.etag
    return since is not None and since == publisher.last_modified


def _validators(publisher: Publisher) -> dict[str, str]:
    found = {}
    if publisher.etag:
        found["ETag"] = publisher.etag
    if publisher.last_modified:
        found["Last-Modified"] = publisher.last_modified
    return found


@contextmanager
def publish_feed(ca: trustme.CA, ca_path: str, feed: str | bytes) -> Iterator[FeedServer]:
    """The feed at https://127.0.0.1:<port><SECRET_PATH> until the block ends."""
    publisher = Publisher()
    publisher.publish(feed)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(publisher))
    server.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FeedServer(server.server_address[1], ca_path, publisher)
    finally:
        server.shutdown()
        server.server_close()

"""A real CalDAV server for the tests: Radicale (from PyPI), in this process, over TLS.

Radicale's own WSGI application behind a threaded wsgiref server wrapped in TLS with a
trustme certificate, htpasswd authentication (plain entries: the test passwords are
throw-away), and a small WSGI layer before it that the tests can use to refuse the
free-busy-query REPORT (a server without it), delay every answer (a slow server) or count
requests. Nothing is mocked: the `caldav` client and the connector speak HTTP to it.
"""

from __future__ import annotations

import io
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import caldav
import radicale
import radicale.config
import trustme

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that gave up (the slow-server tests): nothing to report


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        return None


@dataclass
class Behaviour:
    """What the layer before Radicale does; the tests change it while the server runs."""

    refuse_free_busy: bool = False
    delay_seconds: float = 0.0
    methods: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


def _layer(app: WSGIApp, behaviour: Behaviour) -> WSGIApp:
    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        behaviour.methods.append(environ["REQUEST_METHOD"])
        behaviour.bodies.append(body)
        if behaviour.delay_seconds:
            time.sleep(behaviour.delay_seconds)
        if behaviour.refuse_free_busy and b"free-busy-query" in body:
            start_response("501 Not Implemented", [("Content-Length", "0")])
            return [b""]
        environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    return handle


@dataclass
class Radicale:
    url: str
    port: int
    ca_path: str
    folder: Path
    htpasswd: Path
    behaviour: Behaviour
    users: dict[str, str]

    def set_password(self, user: str, password: str) -> None:
        """Change a user's password at the server (htpasswd is reread on each login)."""
        self.users[user] = password
        self.htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))


@contextmanager
def start_radicale(
    tmp: Path, ca: trustme.CA, users: dict[str, str], *, host: str = "127.0.0.1"
) -> Iterator[Radicale]:
    """Radicale serving `users` (name -> password) at https://host:port/, until the end."""
    tmp.mkdir(parents=True, exist_ok=True)
    folder = tmp / "collections"
    htpasswd = tmp / "htpasswd"
    htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    configuration = radicale.config.load()
    configuration.update(
        {
            "auth": {
                "type": "htpasswd",
                "htpasswd_filename": str(htpasswd),
                "htpasswd_encryption": "plain",  # pragma: allowlist secret
                "cache_logins": "False",
                "delay": "0",
            },
            "rights": {"type": "owner_only"},
            "storage": {"filesystem_folder": str(folder)},
            "logging": {"level": "warning", "mask_passwords": "True"},  # pragma: allowlist secret
            "server": {"delay_on_error": "0"}
            if "delay_on_error" in configuration.options("server")
            else {},
        },
        "test",
        privileged=True,
    )
    behaviour = Behaviour()
    app = _layer(radicale.Application(configuration), behaviour)
    server = make_server(host, 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", host).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    ca_path = tmp / "radicale-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    try:
        yield Radicale(
            url=f"https://{host}:{port}/",
            port=port,
            ca_path=str(ca_path),
            folder=folder,
            htpasswd=htpasswd,
            behaviour=behaviour,
            users=dict(users),
        )
    finally:
        server.shutdown()
        server.server_close()


def seed(server: Radicale, user: str, name: str, events: Iterable[str]) -> str:
    """A calendar `name` of `user` holding `events` (VCALENDAR texts), made with the
    `caldav` client as any calendar app would; its URL."""
    client = caldav.DAVClient(
        server.url, username=user, password=server.users[user], ssl_verify_cert=server.ca_path
    )
    with client:
        calendar = client.principal().make_calendar(name=name)
        for text in events:
            calendar.save_event(text)
        return str(calendar.url)


def vcalendar(*events: str, zone: str = "") -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n{zone}{body}END:VCALENDAR\r\n"

"""The emulator's Flask app and the HTTPS server that runs it in a background thread.

MSAL accepts only https authorities, so the emulator always serves TLS, with a certificate
for 127.0.0.1 and localhost from a throw-away CA whose PEM is written where clients can
trust it (`ca_path`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import trustme
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulator import (
    calendar,
    calendar_list,
    control,
    control_events,
    control_faults,
    control_push,
    generic,
    google,
    microsoft,
    push_google,
    push_graph,
)
from emulator.client import EmulatorClient
from emulator.deliveries import Deliverer
from emulator.errors import control_error
from emulator.records import ACCOUNTS_FILE, PROVIDERS, Client, Settings, load_accounts_file
from emulator.signing import Signer
from emulator.state import EmulatorState

DEFAULT_CLIENT_ID = "gateway-dev"
DEFAULT_CLIENT_SECRET = "gateway-dev-secret"
# The IPv4 wildcard, only ever compared with (bandit B104 flags any such literal as a bind).
ANY_IPV4 = "0.0.0.0"  # noqa: S104 # nosec B104
DEFAULT_CLIENTS: dict[str, dict[str, Any]] = {
    DEFAULT_CLIENT_ID: {
        "secret": DEFAULT_CLIENT_SECRET,
        "redirect_uris": [
            f"http://{host}:8000/auth/callback/{provider}"
            for host in ("127.0.0.1", "localhost")
            for provider in ("google", "microsoft", "emulator")
        ],
    }
}


# Requests that may change what a restart must keep (tokens, grants, events, accounts).
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def create_app(state: EmulatorState, signer: Signer | None = None) -> Flask:
    """The emulator as a WSGI app: one blueprint per provider, the calendar APIs, control."""
    app = Flask(__name__)
    app.extensions["emulator"] = state
    if state.path is not None:

        @app.after_request
        def keep_state(response: Response) -> Response:
            if request.method in CHANGING_METHODS:
                state.save()
            return response

    signer = signer or Signer(PROVIDERS)
    app.register_blueprint(control.bp)
    app.register_blueprint(control_events.bp)
    app.register_blueprint(control_faults.bp)
    app.register_blueprint(google.create_blueprint(signer))
    app.register_blueprint(microsoft.create_blueprint(signer))
    app.register_blueprint(generic.create_blueprint(signer))
    app.register_blueprint(calendar.create_blueprint())
    app.register_blueprint(calendar_list.create_blueprint())
    app.extensions["emulator_push"] = Deliverer(state)
    app.register_blueprint(push_google.create_blueprint())
    app.register_blueprint(push_graph.create_blueprint())
    app.register_blueprint(control_push.bp)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return control_error(
            (error.name or "error").lower().replace(" ", "_"),
            error.description or "",
            error.code or 500,
        )

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        app.logger.exception("emulator error")
        return control_error("server_error", "The emulator failed on this request.", 500)

    return app


def parse_clients(clients: Mapping[str, Mapping[str, Any]]) -> dict[str, Client]:
    return {
        client_id: Client(client_id, str(spec["secret"]), tuple(spec["redirect_uris"]))
        for client_id, spec in clients.items()
    }


class QuietHandler(WSGIRequestHandler):
    """No access log by default; with `verbose`, method and path only (no codes in logs)."""

    verbose = False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.verbose:
            path = self.path.split("?", 1)[0]
            self.log("info", '"%s %s" %s', self.command, path, code)

    def log_error(self, format: str, *args: Any) -> None:
        if self.verbose:
            super().log_error(format, *args)


class VerboseHandler(QuietHandler):
    verbose = True


class RunningEmulator:
    """A started emulator: `url`, `ca_path`, `client`; `stop()` or use it as a context."""

    def __init__(
        self,
        server: BaseWSGIServer,
        thread: threading.Thread,
        url: str,
        ca_path: Path,
        state: EmulatorState,
        own_ca_file: bool,
    ) -> None:
        self._server = server
        self._thread = thread
        self.url = url
        self.ca_path = ca_path
        self.state = state
        self.client = EmulatorClient(url, ca_path)
        self._own_ca_file = own_ca_file
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.client.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        app = cast(Flask, self._server.app)
        app.extensions["emulator_push"].stop()  # no delivery after a stop
        if self._own_ca_file:
            self.ca_path.unlink(missing_ok=True)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def tls_context(host: str, ca_path: Path, ca_key_path: Path | None = None) -> ssl.SSLContext:
    """A server context with a CA's certificate for loopback (and `host`): a fresh CA, or
    with `ca_key_path` the one kept there and in `ca_path` (made on first use), so a browser
    that was told to trust it once keeps trusting it across restarts."""
    ca = _kept_ca(ca_path, ca_key_path) if ca_key_path is not None else None
    if ca is None:
        ca = trustme.CA()
        if ca_key_path is not None:
            ca_key_path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(ca_key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(handle, "wb") as out:
                out.write(ca.private_key_pem.bytes())
    names = ["127.0.0.1", "localhost", "::1"]
    if host not in names and host not in (ANY_IPV4, "::"):
        names.append(host)
    cert = ca.issue_cert(*names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert.configure_cert(context)
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_path))
    return context


def _kept_ca(ca_path: Path, ca_key_path: Path) -> trustme.CA | None:
    try:
        return trustme.CA.from_pem(ca_path.read_bytes(), ca_key_path.read_bytes())
    except (OSError, ValueError):
        return None


def public_host(host: str) -> str:
    if host in (ANY_IPV4, ""):  # a wildcard bind is reached on loopback
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    ca_path: Path | None = None,
    clients: Mapping[str, Mapping[str, Any]] | None = None,
    accounts_file: Path | None = None,
    *,
    google_issuer: str | None = None,
    verbose: bool = False,
    state_path: Path | None = None,
) -> RunningEmulator:
    """Start the emulator over HTTPS in a daemon thread and return once it accepts requests.

    `port=0` picks a free port. `clients` maps client_id -> {"secret", "redirect_uris"}
    (DEFAULT_CLIENTS when None). `google_issuer` replaces the Google side's issuer (default:
    the emulator's own URL). With `state_path`, accounts, grants, tokens and events are
    kept there across restarts (state.py), and so is the CA (its key next to it).
    """
    own_ca_file = ca_path is None
    if ca_path is None:
        handle, name = tempfile.mkstemp(prefix="emulator-ca-", suffix=".pem")
        os.close(handle)
        ca_path = Path(name)
    ca_path = Path(ca_path)
    ca_key = Path(state_path).with_name("emulator-ca.key") if state_path is not None else None
    context = tls_context(host, ca_path, ca_key)
    accounts, rooms = load_accounts_file(accounts_file or ACCOUNTS_FILE)
    state = EmulatorState(
        base_url="",
        clients=parse_clients(DEFAULT_CLIENTS if clients is None else clients),
        accounts=accounts,
        rooms=rooms,
        settings=Settings(google_issuer=google_issuer),
        path=Path(state_path) if state_path is not None else None,
    )
    app = create_app(state)
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.ERROR)
    server = make_server(
        host,
        port,
        app,
        threaded=True,
        ssl_context=context,
        request_handler=VerboseHandler if verbose else QuietHandler,
    )
    server.daemon_threads = True  # type: ignore[attr-defined]
    url = f"https://{public_host(host)}:{server.port}"
    state.base_url = url
    thread = threading.Thread(target=server.serve_forever, name="emulator", daemon=True)
    thread.start()
    return RunningEmulator(server, thread, url, ca_path, state, own_ca_file)

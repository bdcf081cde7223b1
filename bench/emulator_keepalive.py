"""The provider emulator behind a server that keeps connections alive, for benchmarks.

    python -m bench.emulator_keepalive --port P --ca-out ca.pem --work DIR [--redirect-uri U ...]

The emulator's own server (Werkzeug's) answers every request with `Connection: close`, so
each provider call the gateway makes to it pays a new TCP connection and TLS handshake,
which no real provider asks for: Google's and Microsoft's APIs keep connections alive.
A benchmark of the gateway's cold path against it measured the emulator's handshakes, not
the gateway's pooling (README, "Benchmarks"). Here the same emulator app runs under
gunicorn (one process, so one emulator state; keep-alive on; room for every concurrent
call to sleep its injected latency at once), over HTTPS with a fresh CA
written to `--ca-out`. Not for tests: they use the emulator as it is.

Its worker is gevent's pywsgi server by default (`--worker gevent` for gunicorn's own gevent
loop, `--worker gthread` for the threaded one; BENCH_EMULATOR_WORKER names it for a
benchmark): a call held for its injected latency is a sleeping greenlet, not one of 256
threads, an answer is handed from the connection to the app and back without a thread pool
and the worker loop's wake-ups, and pywsgi writes an answer's headers and body in one send.
The emulator shares the benchmark's two cores with the gateway, where a real provider's CPU
would not compete with it (README, "Benchmarks": its CPU per call with each worker).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import trustme
from gunicorn.app.base import BaseApplication

from emulator.records import ACCOUNTS_FILE, Settings, load_accounts_file
from emulator.server import DEFAULT_CLIENTS, create_app, parse_clients
from emulator.state import EmulatorState

THREADS = 256  # gthread: every concurrent provider call of a 1,000-room query sleeps at once
KEEPALIVE_SECONDS = 75
WORKERS = {
    "gevent": {"worker_class": "gevent", "worker_connections": 1024},
    "pywsgi": {"worker_class": "gevent_pywsgi", "worker_connections": 1024},
    "gthread": {"worker_class": "gthread", "threads": THREADS},
}


def write_tls(ca_out: Path, work: Path) -> tuple[Path, Path]:
    """A fresh CA (its certificate at `ca_out`) and a loopback certificate and key in `work`."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    work.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = work / "emulator-cert.pem", work / "emulator-key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    handle = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "wb") as out:
        out.write(cert.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(ca_out))  # last: its presence says the server is coming
    return cert_path, key_path


class KeepAliveEmulator(BaseApplication):  # type: ignore[misc]
    """gunicorn serving the emulator app, configured here rather than from a file."""

    def __init__(self, url: str, clients: dict[str, Any], options: dict[str, Any]) -> None:
        self.url = url
        self.clients = clients
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        accounts, rooms = load_accounts_file(ACCOUNTS_FILE)
        state = EmulatorState(
            base_url=self.url,
            clients=parse_clients(self.clients),
            accounts=accounts,
            rooms=rooms,
            settings=Settings(),
            path=None,
        )
        return create_app(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca-out", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--client-id", default=None)
    parser.add_argument("--client-secret", default=None)
    parser.add_argument("--redirect-uri", action="append", default=[])
    parser.add_argument(  # the environment's choice reaches it through bench/stack.py
        "--worker",
        choices=sorted(WORKERS),
        default=os.environ.get("BENCH_EMULATOR_WORKER", "pywsgi"),
    )
    args = parser.parse_args()
    clients: dict[str, Any] = dict(DEFAULT_CLIENTS)
    if args.client_id:
        clients = {
            args.client_id: {"secret": args.client_secret, "redirect_uris": args.redirect_uri}
        }
    cert_path, key_path = write_tls(args.ca_out, args.work)
    options = {
        "bind": f"127.0.0.1:{args.port}",
        "workers": 1,
        **WORKERS[args.worker],
        "keepalive": KEEPALIVE_SECONDS,
        "certfile": str(cert_path),
        "keyfile": str(key_path),
        "timeout": 120,
        "accesslog": None,
        "loglevel": "warning",
    }
    KeepAliveEmulator(f"https://127.0.0.1:{args.port}", clients, options).run()


if __name__ == "__main__":
    main()

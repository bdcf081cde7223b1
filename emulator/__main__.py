"""`python -m emulator`: run the provider emulator until Ctrl-C.

Prints its URL, where the CA bundle was written, the registered client and the test
accounts, so a person can point a gateway (GATEWAY_EMULATOR_URL, GATEWAY_CA_BUNDLE) at it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from emulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_CLIENTS,
    start_emulator,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Google, Microsoft and generic OIDC provider emulator over HTTPS.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--ca-out", type=Path, required=True, help="write the CA PEM here")
    parser.add_argument("--accounts", type=Path, help="accounts JSON (default: the shipped one)")
    parser.add_argument("--client-id", default=None, help=f"client id ({DEFAULT_CLIENT_ID})")
    parser.add_argument("--client-secret", default=None, help="client secret")
    parser.add_argument(
        "--redirect-uri", action="append", default=[], help="registered redirect URI (repeat)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        help="keep accounts, grants, tokens, events (and the CA) in this JSON file",
    )
    parser.add_argument("--verbose", action="store_true", help="log each request's path")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    if args.accounts is not None and not args.accounts.is_file():
        parser.error(f"--accounts: no such file {args.accounts}")
    return args


def clients_from(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    if args.client_id is None and args.client_secret is None and not args.redirect_uri:
        return DEFAULT_CLIENTS
    client_id = args.client_id or DEFAULT_CLIENT_ID
    secret = args.client_secret or DEFAULT_CLIENT_SECRET
    uris = args.redirect_uri or DEFAULT_CLIENTS[DEFAULT_CLIENT_ID]["redirect_uris"]
    return {client_id: {"secret": secret, "redirect_uris": list(uris)}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clients = clients_from(args)
    try:
        emulator = start_emulator(
            host=args.host,
            port=args.port,
            ca_path=args.ca_out,
            clients=clients,
            accounts_file=args.accounts,
            verbose=args.verbose,
            state_path=args.state,
        )
    except (OSError, ValueError) as error:
        print(f"emulator: could not start: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"Provider emulator on {emulator.url}")
    print(f"  CA bundle: {emulator.ca_path}")
    print(f"  Google discovery:    {emulator.url}/.well-known/openid-configuration")
    print(f"  Microsoft authority: {emulator.url}/<tenant>  (common, organizations, GUID)")
    print(f"  Generic discovery:   {emulator.url}/generic/.well-known/openid-configuration")
    for client_id, spec in clients.items():
        print(f"  Client {client_id}: redirect URIs {', '.join(spec['redirect_uris'])}")
    print("  Test accounts (no password):")
    for account in emulator.client.accounts():
        tenant = f"  tenant {account['tenant']}" if account.get("tenant") else ""
        print(f"    {account['provider']:10} {account['email']:28} {account['name']}{tenant}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m gateway`: run the gateway on a fresh machine with nothing else installed.

Without `GATEWAY_REDIS_URL` an embedded Redis starts (see gateway.storage.embedded); without
provider credentials and without `GATEWAY_EMULATOR_URL` the provider emulator starts in this
process, registered for this gateway's callback URLs, and its test accounts are printed.
A secret key is generated once into the data folder when none is configured.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import click
from werkzeug.serving import WSGIRequestHandler, make_server

from connectors import registry
from gateway import local, secret_files
from gateway.config import ConfigError, Settings
from gateway.crypto.keyring import new_key_entry
from gateway.log_redaction import redact_url
from gateway.services.demo import DemoError, admin_entry
from gateway.services.demo_data import ADMIN_EMAIL


class QuietRequestHandler(WSGIRequestHandler):
    """No access line from the dev server: the app writes its own JSON one (request_log.py),
    which never holds a query string (callbacks carry codes and states)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


# What a container runtime, a process manager or a closed terminal sends. Python's default
# for them ends the process at once, without `finally` or atexit, leaving the embedded
# redis-server running; a clean exit stops it (and the emulator) instead.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
WORKER_STOP_SECONDS = 30.0


def stop_on_signal(signum: int, frame: object) -> None:
    ignore_stop_signals()  # only once: a second signal must not cut the clean-up short
    raise SystemExit(0)


def ignore_stop_signals() -> None:
    for name in STOP_SIGNALS:
        signal.signal(name, signal.SIG_IGN)


def needs_emulator(env: Mapping[str, str]) -> bool:
    if env.get("GATEWAY_EMULATOR_URL"):
        return False
    return not registry.configured_in(env)


def ensure_secret_key(env: MutableMapping[str, str], data_dir: Path) -> None:
    if env.get("GATEWAY_SECRET_KEY"):
        return
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    env["GATEWAY_SECRET_KEY"] = path.read_text().strip()


def ensure_encryption_keys(env: MutableMapping[str, str], data_dir: Path) -> None:
    """A local key ring for development; production passes GATEWAY_ENCRYPTION_KEYS."""
    if env.get("GATEWAY_ENCRYPTION_KEYS"):
        return
    path = data_dir / "encryption_keys"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(new_key_entry(time.strftime("%Y%m%d")))
    env["GATEWAY_ENCRYPTION_KEYS"] = path.read_text().strip()


def start_local_emulator(env: MutableMapping[str, str], data_dir: Path) -> Any:
    from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start_emulator

    host = env.get("GATEWAY_HOST", "127.0.0.1")
    public_url = env.get("GATEWAY_PUBLIC_URL") or f"http://{host}:{env.get('GATEWAY_PORT', '8000')}"
    public_url = public_url.rstrip("/")
    redirect_uris = [f"{public_url}/auth/callback/{name}" for name in registry.emulated_names()]
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    options: dict[str, Any] = {
        "ca_path": data_dir / "emulator-ca.pem",
        "state_path": data_dir / "emulator-state.json",  # restarts keep every connection
        "clients": {
            DEFAULT_CLIENT_ID: {"secret": DEFAULT_CLIENT_SECRET, "redirect_uris": redirect_uris}
        },
    }
    # the last run's port when it is free: the emulator's URL (and a browser's certificate
    # exception for it) stays the same across restarts
    port_file = data_dir / "emulator-port"
    try:
        emulator = start_emulator(port=int(port_file.read_text().strip()), **options)
    except (OSError, ValueError, OverflowError):
        emulator = start_emulator(port=0, **options)
    port_file.write_text(str(emulator.url.rsplit(":", 1)[1]))
    env["GATEWAY_EMULATOR_URL"] = emulator.url
    env["GATEWAY_CA_BUNDLE"] = str(emulator.ca_path)
    return emulator


def choose_demo_admin(env: MutableMapping[str, str], emulator: Any) -> str | None:
    """With our own emulator and no admin configured, one test account is the demo admin."""
    if emulator is None or env.get("GATEWAY_ADMINS") or env.get("GATEWAY_ADMIN_EMAIL_DOMAIN"):
        return None
    entry = admin_entry(emulator.client.accounts())
    if entry:
        env["GATEWAY_ADMINS"] = entry
    return entry


def seed_demo(app: Any, emulator: Any, data_dir: Path) -> str:
    """Seed the demo (services/demo.py); a failure is one line, and the next start retries."""
    from gateway.services.demo import DemoSeeder

    with app.app_context():
        try:
            return DemoSeeder(app.extensions["gateway"], emulator, data_dir).run()
        except Exception as error:  # the gateway still serves without its demo
            detail = f": {error}" if isinstance(error, DemoError) else ""
            return f"demo not seeded ({type(error).__name__}{detail}); the next start retries"


def start_worker(app: Any, data_dir: Path) -> subprocess.Popen[bytes]:
    """The background jobs' process (`python -m gateway worker`, gateway/worker.py) beside
    the server, as deploy/ runs it beside gunicorn. It finds this gateway's keys, emulator
    and Redis the way every CLI command does (gateway/local.py: var/ and run.json, so it
    starts after run.json is written); nothing secret is added to its environment."""
    env = dict(os.environ, GATEWAY_DATA_DIR=str(data_dir))
    embedded = app.extensions["gateway"].embedded_redis
    if embedded is not None:
        env["GATEWAY_REDIS_URL"] = embedded.url
    command = [sys.executable, "-m", "gateway", "worker", "--parent-pid", str(os.getpid())]
    return subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter, fixed argv


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM: a job under way finishes first (gateway/worker.py's SHUTDOWN_SECONDS)."""
    if worker.poll() is None:
        worker.terminate()
    try:
        worker.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def gateway_environment() -> dict[str, str] | None:
    """The GATEWAY_* variables with the values given as files read in (secret_files.py),
    before a key is generated for a GATEWAY_SECRET_KEY that only looks unset."""
    try:
        return secret_files.resolve(os.environ)
    except secret_files.SecretFileError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return None


def command(args: list[str]) -> int:
    """`python -m gateway keys|rooms|clients|admin|retention|worker ...`: the CLI commands, with the
    data folder's defaults (gateway/local.py), exactly like `flask --app gateway ...`."""
    from flask.cli import ScriptInfo

    from gateway.cli import keys_cli

    try:
        if args[:2] == ["keys", "generate"]:  # needs no gateway at all
            keys_cli.main(args=args[1:], prog_name="python -m gateway keys", standalone_mode=False)
            return 0
        settings = local.cli_settings(os.environ)
        from gateway import create_app

        app = create_app(settings)
        app.cli.main(
            args=args,
            prog_name="python -m gateway",
            obj=ScriptInfo(create_app=lambda: app),
            standalone_mode=False,
        )
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    for name in STOP_SIGNALS:
        signal.signal(name, stop_on_signal)
    # Ctrl-C or `kill -INT` stops it however it was started: a non-interactive shell starts
    # a background job (`make run &`) with SIGINT ignored, and Python then leaves it so
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.argv[1:]:
        return command(sys.argv[1:])
    env = gateway_environment()
    if env is None:
        return 2
    data_dir = Path(env.get("GATEWAY_DATA_DIR") or "var")
    ensure_secret_key(env, data_dir)
    ensure_encryption_keys(env, data_dir)
    emulator = start_local_emulator(env, data_dir) if needs_emulator(env) else None
    demo_admin = choose_demo_admin(env, emulator)
    try:
        settings = Settings.from_env(env)
        from gateway import create_app

        app = create_app(settings)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        if emulator is not None:
            emulator.stop()
        return 2
    demo = seed_demo(app, emulator, data_dir) if emulator is not None else None

    server = make_server(
        settings.host, settings.port, app, threaded=True, request_handler=QuietRequestHandler
    )
    local.write_run_state(data_dir, public_url=settings.public_url, emulator=emulator)
    worker = start_worker(app, data_dir)
    print(f"\nConsent gateway on {settings.public_url}")
    if emulator is not None:
        print(
            f"  Open {settings.public_url}/ first: sign in with any test account below (pick\n"
            f"  it on the emulator's page), then see the demo rooms at {settings.public_url}/rooms"
        )
        if demo:
            print(f"  {demo}")
        if demo_admin:
            print(
                f"  Demo admin: {ADMIN_EMAIL}, console at {settings.public_url}/admin"
                " (only with the emulator)"
            )
    redis_shown = redact_url(settings.redis_url) if settings.redis_url else None
    print("  Redis: " + (redis_shown or "embedded, data in " + str(data_dir / "redis")))
    print(f"  Worker (the background jobs of gateway/services/jobs.py): pid {worker.pid}")
    if emulator is not None:
        print(f"  Provider emulator on {redact_url(emulator.url)} (CA bundle {emulator.ca_path})")
        print(
            "  Your browser will warn about the emulator's certificate: it comes from a local,\n"
            f"  throw-away test CA ({emulator.ca_path}); accept it to click through sign-in."
        )
        print("  Test accounts (no password):")
        for account in emulator.client.accounts():
            print(f"    {account.get('provider', '?'):10} {account.get('email')}")
    print("Press Ctrl-C to stop.\n", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        ignore_stop_signals()
        server.server_close()
        stop_worker(worker)  # before the embedded Redis it works on
        local.remove_run_state(data_dir)
        if emulator is not None:
            emulator.stop()
        embedded = app.extensions["gateway"].embedded_redis
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

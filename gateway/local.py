"""The defaults of a checkout: what `make run` keeps in the data folder (`var/`), so that
`flask --app gateway ...` and `python -m gateway ...` find the same gateway with nothing
exported.

`python -m gateway` generates the secret key and the key ring into the data folder once and,
while it runs, writes `run.json` there: its pid, public URL and the emulator's URL and CA
bundle (the emulator's port changes every run). A CLI command takes each of these unless the
variable is set, and the embedded Redis of a running gateway is shared (storage/embedded.py).
Only the CLI reads them: `create_app()` under gunicorn never does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import psutil

from connectors import registry

RUN_STATE = "run.json"
# what `python -m gateway` generates into the data folder, by the variable it stands for
GENERATED_FILES = {  # file names, not secrets
    "GATEWAY_SECRET_KEY": "secret_key",  # pragma: allowlist secret
    "GATEWAY_ENCRYPTION_KEYS": "encryption_keys",
}


class NothingToWorkOn(RuntimeError):
    """No gateway data here and nothing configured: the one line says what to do."""


def data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("GATEWAY_DATA_DIR") or "var")


def write_run_state(folder: Path, *, public_url: str, emulator: Any | None) -> Path:
    """Say what this `python -m gateway` serves, for CLI commands run beside it."""
    record = {
        "pid": os.getpid(),
        "public_url": public_url,
        "emulator_url": emulator.url if emulator is not None else None,
        "ca_bundle": str(Path(emulator.ca_path).resolve()) if emulator is not None else None,
    }
    path = folder / RUN_STATE
    partial = folder / (RUN_STATE + ".partial")
    handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(record, out)
    os.replace(partial, path)
    return path


def remove_run_state(folder: Path) -> None:
    path = folder / RUN_STATE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def running_gateway(folder: Path) -> dict[str, Any] | None:
    """The run state of a live `python -m gateway` on this folder, or None (none, or its
    process is gone: a SIGKILLed gateway leaves the file behind)."""
    try:
        record = json.loads((folder / RUN_STATE).read_text())
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(record, dict) or not psutil.pid_exists(pid) or pid == os.getpid():
        return None
    try:
        if "python" not in psutil.Process(pid).name().lower():
            return None  # the pid was reused by something else
    except psutil.Error:
        return None
    return record


def _from_file(env: MutableMapping[str, str], name: str, path: Path) -> None:
    if env.get(name):
        return
    try:
        value = path.read_text().strip()
    except OSError:
        return
    if value:
        env[name] = value


def cli_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The GATEWAY_* settings of a CLI command: the environment's, and for what it leaves
    unset, the data folder's (secret key, key ring, a running gateway's emulator). Values
    given as files (GATEWAY_<NAME>_FILE, GATEWAY_SECRETS_DIR) count as set."""
    from gateway import secret_files

    env = secret_files.resolve(environ)
    folder = data_dir(env)
    for name, file_name in GENERATED_FILES.items():
        _from_file(env, name, folder / file_name)
    running = running_gateway(folder)
    configured = env.get("GATEWAY_EMULATOR_URL") or registry.configured_in(env)
    if running and running.get("emulator_url") and not configured:
        env["GATEWAY_EMULATOR_URL"] = str(running["emulator_url"])
        if running.get("ca_bundle") and not env.get("GATEWAY_CA_BUNDLE"):
            env["GATEWAY_CA_BUNDLE"] = str(running["ca_bundle"])
    if not env.get("GATEWAY_SECRET_KEY") and not env.get("GATEWAY_REDIS_URL"):
        raise NothingToWorkOn(
            f"no gateway here: {folder}/ holds no secret key and no GATEWAY_* variable is set; "
            "run `make run` once in this checkout (it creates var/), or set the GATEWAY_* "
            "variables (README, Configuration)"
        )
    return env


def under_flask_cli() -> bool:
    """Whether `create_app()` is being called by the `flask` command (its ScriptInfo)."""
    import click
    from flask.cli import ScriptInfo

    context = click.get_current_context(silent=True)
    return context is not None and context.find_object(ScriptInfo) is not None


def cli_settings(environ: Mapping[str, str]) -> Any:
    """Settings for a CLI command, or one line on stderr and exit status 2: a command needs
    storage and keys, not a sign-in provider."""
    import sys

    from gateway.config import ConfigError, Settings
    from gateway.secret_files import SecretFileError

    try:
        return Settings.from_env(cli_environment(environ), admin_only=True)
    except (ConfigError, NothingToWorkOn, SecretFileError) as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

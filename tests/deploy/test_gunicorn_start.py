"""Under gunicorn (deploy/gunicorn.conf.py), a configuration mistake stops the master before
any worker forks: exit status 2 and one line on stderr naming the variable, no traceback,
no "Worker failed to boot"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.crypto.keyring import new_key_entry
from tests.deploy.gunicorn_process import Gunicorn

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "GATEWAY_SECRET_KEY": "s" * 40,
    "GATEWAY_ENCRYPTION_KEYS": new_key_entry("v1"),
    "GATEWAY_GOOGLE_CLIENT_ID": "id.apps",
    "GATEWAY_GOOGLE_CLIENT_SECRET": "shh",  # pragma: allowlist secret
    "GATEWAY_REDIS_URL": "redis://127.0.0.1:1",
}


def run_gunicorn(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(BASE, GATEWAY_DATA_DIR=str(tmp_path), **settings)
    env = {k: v for k, v in env.items() if v}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    try:
        return subprocess.run(
            [
                str(gunicorn),
                *("-c", "deploy/gunicorn.conf.py", "--workers", "2"),
                *("--bind", "127.0.0.1:0", "gateway:create_app()"),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"gunicorn started with {settings}: the mistake was accepted")


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"GATEWAY_TRUSTED_HOSTS": "*"}, "GATEWAY_TRUSTED_HOSTS"),
        ({"GATEWAY_REDIS_URL": "redis://redis:six/0"}, "GATEWAY_REDIS_URL"),
        (
            {"GATEWAY_SESSION_IDLE_MINUTES": "720", "GATEWAY_SESSION_ABSOLUTE_HOURS": "2"},
            "GATEWAY_SESSION_IDLE_MINUTES",
        ),
        (
            {"GATEWAY_PUBLIC_URL": "https://gw.example", "GATEWAY_REDIS_URL": ""},
            "GATEWAY_REDIS_URL",
        ),
        (
            {"GATEWAY_SECRET_KEY": "", "GATEWAY_SECRET_KEY_FILE": "/nonexistent/secret-key"},
            "GATEWAY_SECRET_KEY_FILE",
        ),
        ({"GATEWAY_REDIS_URL_FILE": "/dev/null"}, "GATEWAY_REDIS_URL is given twice"),
    ],
)
def test_a_mistake_stops_gunicorn_with_one_line(
    tmp_path: Path, settings: dict[str, str], variable: str
) -> None:
    result = run_gunicorn(tmp_path, **settings)

    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("configuration error: ") and variable in line
    for text in (result.stdout, result.stderr):
        assert "Traceback" not in text
        assert "Worker failed to boot" not in text
    assert not (tmp_path / "redis").exists()  # no embedded Redis was started either


def test_gunicorn_starts_with_its_secrets_from_a_mounted_folder_and_a_file(
    gateway_env: dict[str, str], tmp_path: Path
) -> None:
    """As deploy/k8s mounts the Secret: the key ring and the Redis URL (with its password)
    as files in GATEWAY_SECRETS_DIR, the secret key from GATEWAY_SECRET_KEY_FILE; /readyz
    answers only if Redis was reached with the file's URL."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    env = dict(gateway_env)
    for name in ("GATEWAY_ENCRYPTION_KEYS", "GATEWAY_REDIS_URL"):
        (folder / name).write_text(env.pop(name) + "\n")
    (tmp_path / "secret-key").write_text(env.pop("GATEWAY_SECRET_KEY") + "\n")
    env |= {
        "GATEWAY_SECRETS_DIR": str(folder),
        "GATEWAY_SECRET_KEY_FILE": str(tmp_path / "secret-key"),
    }
    server = Gunicorn(env, tmp_path / "gunicorn.log", "--workers", "1")
    try:
        server.wait_until_ready()
        assert server.get("/readyz").json()["status"] == "ready"
    finally:
        server.stop()

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

"""Every CLI error is one line that says what to change: a configuration mistake, Redis
down, bad input or a bug. Real `flask --app gateway` processes, as an operator runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from gateway.cli_errors import CliGroup

ROOT = Path(__file__).resolve().parents[2]
FLASK = [sys.executable, "-m", "flask", "--app", "gateway"]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [*FLASK, *args],
        env={**clean, **env, "GATEWAY_LOG_LEVEL": "ERROR"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in done.stderr + done.stdout
    return [line for line in done.stderr.splitlines() if line.strip()]


def test_a_configuration_mistake_is_one_line(make_env: Any) -> None:
    done = run(make_env(GATEWAY_ENCRYPTION_KEYS="not-a-ring"), "rooms", "list")
    assert done.returncode != 0
    (line,) = error_lines(done)
    assert "GATEWAY_ENCRYPTION_KEYS" in line


@pytest.mark.parametrize(
    "command",
    [("rooms", "list"), ("keys", "status"), ("clients", "list"), ("admin", "audit")],
)
def test_redis_down_is_one_line_for_every_group(make_env: Any, command: tuple[str, ...]) -> None:
    done = run(make_env(GATEWAY_REDIS_URL=f"redis://127.0.0.1:{closed_port()}"), *command)
    assert done.returncode == 1
    (line,) = error_lines(done)
    assert line.startswith("Error: Redis is not reachable:") and "GATEWAY_REDIS_URL" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("rooms", "create", "x", "--name", "X", "--time-zone", "Mars/Base"), "time_zone:"),
        (("admin", "audit", "--limit", "-5"), "flask admin audit: Invalid value for '--limit'"),
        (("keys", "generate", "bad version!"), "Invalid value for VERSION"),
    ],
)
def test_bad_input_is_one_line(make_env: Any, args: tuple[str, ...], expected: str) -> None:
    done = run(make_env(), *args)
    assert done.returncode != 0
    (line,) = error_lines(done)
    assert expected in line


def test_a_bug_is_one_line_too() -> None:
    group = CliGroup("demo")

    @group.command("boom", with_appcontext=False)
    def boom() -> None:
        raise RuntimeError("the first line\nand a second one")

    done = CliRunner().invoke(group, ["boom"])
    assert done.exit_code == 1
    assert done.output == "Error: unexpected error (RuntimeError): the first line\n"
    assert isinstance(done.exception, SystemExit)


def test_click_refusals_keep_their_own_line() -> None:
    group = CliGroup("demo")

    @group.command("no", with_appcontext=False)
    def no() -> None:
        raise click.ClickException("you cannot do that")

    assert CliRunner().invoke(group, ["no"]).output == "Error: you cannot do that\n"

"""A newcomer's first run, as `make run` does it: `python -m gateway` with nothing
configured seeds the demo, a browser signs in through the emulator and sees the demo rooms
with busy times; the CLI, with no variable set, finds the running gateway; after a restart
(the emulator kept its tokens in the data folder) every room still answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.services.demo_data import ROOMS
from tests.redis_cluster import free_port

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "first-run"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell in a checkout: no GATEWAY_* variable at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class Gateway:
    """`python -m gateway` in `folder` (its var/ is the data folder), until stopped."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.url = f"http://127.0.0.1:{port}"
        self.out = folder / "stdout"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        with self.out.open("w") as stdout, (self.folder / "stderr").open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway"],
                cwd=self.folder,
                env=clean_env(GATEWAY_PORT=str(self.port)),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in self.out.read_text():
            assert self.process.poll() is None, (self.folder / "stderr").read_text()[-3000:]
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.2)
        return self.out.read_text()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "gateway", *args],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def weekday(start: date, skip: int = 0) -> date:
    """The first working day on or after `start`, then `skip` working days further."""
    day = start
    while day.weekday() >= 5 or skip:
        if day.weekday() < 5:
            skip -= 1
        day += timedelta(days=1)
    return day


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def rooms_with_busy_times(page: Any, url: str, day: date) -> dict[str, str]:
    page.goto(f"{url}/rooms?day={day.isoformat()}")
    found = {}
    for room in ROOMS:
        section = f"#availability-{room.id}"
        found[room.id] = page.inner_text(f"{section} .room-status")
        if found[room.id] == "ok":
            assert page.locator(f"{section} .busy li").count() >= 1, room.id
    return found


def test_a_newcomers_first_run_survives_a_restart(tmp_path: Path, chromium: Any) -> None:
    gateway = Gateway(tmp_path, free_port())
    today = datetime.now(UTC).date()
    try:
        banner = gateway.start()
        assert "demo seeded: 6 rooms" in banner
        assert "Demo admin: bob@example.com" in banner
        assert f"Open {gateway.url}/ first" in banner

        page = chromium.new_context(ignore_https_errors=True).new_page()
        page.goto(gateway.url + "/")
        shot(page, "01-landing")
        page.click("#login-google")
        page.check('input[name="account"][value="bob@example.com"]')
        shot(page, "02-emulator-account-page")
        page.click("#allow")
        page.wait_for_url(gateway.url + "/account")
        statuses = rooms_with_busy_times(page, gateway.url, weekday(today))
        shot(page, "03-demo-rooms")
        assert set(statuses.values()) == {"ok"}, statuses
        # the demo rooms carry capacity and equipment the finder filters on
        page.goto(f"{gateway.url}/rooms?day={weekday(today).isoformat()}&capacity=10")
        big = {r.id for r in ROOMS if page.locator(f"#availability-{r.id}").count()}
        assert big == {r.id for r in ROOMS if r.capacity >= 10} and big, big
        shot(page, "03b-rooms-for-ten")
        page.goto(gateway.url + "/admin")
        assert page.inner_text("h1") == "Admin console"  # bob is the demo admin
        # a room mailbox its host typed is polled, and the page says why (never "not open yet")
        page.goto(gateway.url + "/admin/rooms/nyc-atlas")
        updates = page.inner_text("#updates")
        assert "room or shared mailbox cannot be watched" in updates, updates
        assert "not open yet" not in updates
        shot(page, "03c-room-mailbox-polled")

        # the CLI in the same folder, with no variable set, finds the running gateway
        listed = cli(tmp_path, "rooms", "list")
        assert listed.returncode == 0, listed.stderr
        assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == sorted(
            r.id for r in ROOMS
        )
        assert all("\tbound\t" in line for line in listed.stdout.splitlines())

        emulator_url = (tmp_path / "var" / "run.json").read_text()
        gateway.stop()
        assert not (tmp_path / "var" / "run.json").exists()
        again = gateway.start()
        assert "demo already seeded" in again  # nothing duplicated
        # the emulator came back on its port; `python -m gateway` takes var/ like `flask`
        assert json.loads(emulator_url)["emulator_url"] in again
        listed = subprocess.run(
            [sys.executable, "-m", "gateway", "rooms", "list"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.count("\n") == len(ROOMS)
        # a day not asked about before: answered with the tokens kept across the restart
        statuses = rooms_with_busy_times(page, gateway.url, weekday(today, skip=1))
        shot(page, "04-after-restart")
        assert set(statuses.values()) == {"ok"}, statuses
    finally:
        gateway.stop()


def test_the_cli_with_nothing_running_and_nothing_set_says_one_line(tmp_path: Path) -> None:
    result = cli(tmp_path, "rooms", "list")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "make run" in lines[0]

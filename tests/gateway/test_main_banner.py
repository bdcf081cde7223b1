"""`python -m gateway` shows where Redis is, never the password in its URL, and neither do
the log lines of a request that finds that Redis unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.redis_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Pl4nted-R3dis-Passw0rd"  # pragma: allowlist secret


def test_the_start_banner_and_logs_show_no_redis_password(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_DATA_DIR=str(tmp_path),
        GATEWAY_PORT=str(port),
        # nothing listens on port 1: every Redis call fails and is logged
        GATEWAY_REDIS_URL=f"redis://gateway:{PASSWORD}@127.0.0.1:1/0",
    )
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while "Press Ctrl-C" not in out.read_text() and time.monotonic() < deadline:
                assert process.poll() is None, err.read_text()[-2000:]
                time.sleep(0.1)
            # a session cookie makes the gateway look the session up in Redis (a sign-in
            # start would not: its flow rides in a sealed cookie)
            answer = requests.get(
                f"http://127.0.0.1:{port}/account",
                cookies={"gw_session": "a-session-id-that-must-be-looked-up"},
                allow_redirects=False,
                timeout=10,
            )
            assert answer.status_code == 503
        finally:
            process.terminate()
            process.wait(timeout=20)

    banner = out.read_text()
    assert "Redis: redis://[redacted]@127.0.0.1:1/0" in banner
    assert "storage error: redis.exceptions.ConnectionError" in err.read_text()
    for text in (banner, err.read_text()):
        assert PASSWORD not in text
        assert "gateway:" not in text.replace("Consent gateway", "")

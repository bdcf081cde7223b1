"""A gunicorn master with the production config (deploy/gunicorn.conf.py), for deploy tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.redis_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_HOST = "127.0.0.1:8000"  # conftest's GATEWAY_PUBLIC_URL
STARTUP_SECONDS = 30.0


class Gunicorn:
    """`gunicorn -c deploy/gunicorn.conf.py` on a free port, with exactly `env` as GATEWAY_*."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.port = free_port()
        self.log = log.open("wb")
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                *("-c", "deploy/gunicorn.conf.py", *args),
                *("--bind", f"127.0.0.1:{self.port}", "gateway:create_app()"),
            ],
            cwd=ROOT,
            env={**inherited, **env},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(
            f"http://127.0.0.1:{self.port}{path}",
            headers={"Host": PUBLIC_HOST, **headers},
            timeout=10,
        )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "gunicorn exited:\n" + self.tail()
            try:
                if self.get("/readyz").ok:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet
            time.sleep(0.1)
        raise AssertionError("gunicorn did not start:\n" + self.tail())

    def tail(self) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-15:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

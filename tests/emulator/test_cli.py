"""`python -m emulator` starts, writes its CA and serves HTTPS with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_starts_writes_the_ca_and_prints_accounts(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    env = {k: v for k, v in os.environ.items() if k != "REQUESTS_CA_BUNDLE"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--ca-out",
            str(ca),
            "--client-id",
            "cli-client",
            "--client-secret",
            "cli-secret",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        url = lines[0].split(" on ", 1)[1].strip()
        assert url.startswith("https://127.0.0.1:")
        assert "alice@example.com" in output
        assert "cli-client" in output
        assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        with requests.Session() as http:
            http.trust_env = False
            doc = http.get(
                f"{url}/generic/.well-known/openid-configuration", verify=str(ca), timeout=5
            ).json()
        assert doc["issuer"] == f"{url}/generic"
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert process.returncode == 0

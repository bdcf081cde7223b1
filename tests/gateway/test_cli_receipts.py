"""`admin verify-receipt` and `admin rotate-receipt-key`, run as an operator runs them: real
`flask --app gateway` processes. Ed25519 receipts verify with the published keys (from Redis,
or offline from a saved JWKS with Redis down), old HMAC ones with the deployment's secret;
anything else is one line and exit status 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway.crypto.receipt_keys import JWKS_PATH
from tests.gateway.test_cli_errors import closed_port, error_lines, run

BODY = {"receipt": "r-cli", "kind": "grant-revocation", "at": 1796601600.5, "reason": "moved"}


@pytest.fixture
def env(make_env: Any) -> dict[str, str]:
    return dict(make_env())


@pytest.fixture
def gateway(build_gateway: Any, env: dict[str, str]) -> Flask:
    """The same deployment in this process (same Redis, secret and key ring)."""
    return build_gateway(env)  # type: ignore[no-any-return]


def write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def test_an_ed25519_receipt_verifies_and_a_tampered_one_is_one_line(
    env: dict[str, str], gateway: Flask, tmp_path: Path
) -> None:
    receipt = gateway.extensions["gateway"].revocation.signer.sign(BODY)
    assert receipt["signature"]["alg"] == "Ed25519"
    done = run(env, "admin", "verify-receipt", write(tmp_path / "r.json", receipt))
    assert (done.returncode, done.stdout) == (0, "valid\n"), done.stderr

    tampered = write(tmp_path / "t.json", {**receipt, "reason": "never happened"})
    done = run(env, "admin", "verify-receipt", tampered)
    assert done.returncode == 1
    (line,) = error_lines(done)
    assert line == "Error: invalid: the receipt does not match its signature"


def test_an_old_hmac_receipt_still_verifies(
    env: dict[str, str], gateway: Flask, tmp_path: Path
) -> None:
    old = gateway.extensions["gateway"].revocation.signer.sign_hmac(BODY)
    done = run(env, "admin", "verify-receipt", write(tmp_path / "old.json", old))
    assert (done.returncode, done.stdout) == (0, "valid\n"), done.stderr
    forged = {**old, "signature": {"alg": "HS256", "value": "AAAA"}}
    done = run(env, "admin", "verify-receipt", write(tmp_path / "forged.json", forged))
    assert done.returncode == 1 and "does not match its signature" in error_lines(done)[0]


def test_offline_with_a_saved_jwks_needs_no_redis(
    env: dict[str, str], gateway: Flask, tmp_path: Path
) -> None:
    receipt = gateway.extensions["gateway"].revocation.signer.sign(BODY)
    published = gateway.test_client().get(JWKS_PATH).get_json(force=True)
    keys = write(tmp_path / "keys.json", published)
    down = {**env, "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{closed_port()}"}
    file = write(tmp_path / "r.json", receipt)
    done = run(down, "admin", "verify-receipt", "--jwks", keys, file)
    assert (done.returncode, done.stdout) == (0, "valid\n"), done.stderr
    # without the key set, the published keys are in Redis: down is one line
    done = run(down, "admin", "verify-receipt", file)
    assert done.returncode == 1
    assert error_lines(done)[0].startswith("Error: Redis is not reachable:")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("not json", "Error: not a key set: the key set is not JSON"),
        ('{"keys": []}', 'Error: not a key set: the key set has no "keys" list'),
    ],
)
def test_a_bad_key_set_is_one_line(
    env: dict[str, str], gateway: Flask, tmp_path: Path, keys: str, expected: str
) -> None:
    receipt = gateway.extensions["gateway"].revocation.signer.sign(BODY)
    file = write(tmp_path / "r.json", receipt)
    done = run(env, "admin", "verify-receipt", "--jwks", write(tmp_path / "k.json", keys), file)
    assert done.returncode == 1
    assert error_lines(done) == [expected]


def test_a_key_set_without_the_signing_key_refuses_the_receipt(
    env: dict[str, str], gateway: Flask, tmp_path: Path
) -> None:
    receipt = gateway.extensions["gateway"].revocation.signer.sign(BODY)
    stranger = {"kty": "OKP", "crv": "Ed25519", "kid": "stranger", "x": "A" * 43}
    keys = write(tmp_path / "k.json", {"keys": [stranger]})
    done = run(env, "admin", "verify-receipt", "--jwks", keys, write(tmp_path / "r.json", receipt))
    assert done.returncode == 1
    (line,) = error_lines(done)
    assert line.startswith("Error: invalid: signed by a key this gateway does not publish")
    old = gateway.extensions["gateway"].revocation.signer.sign_hmac(BODY)
    done = run(env, "admin", "verify-receipt", "--jwks", keys, write(tmp_path / "o.json", old))
    assert done.returncode == 1 and "older HMAC receipt" in error_lines(done)[0]


def test_a_rotation_from_the_cli_keeps_old_receipts_verifying(
    env: dict[str, str], gateway: Flask, tmp_path: Path
) -> None:
    signer = gateway.extensions["gateway"].revocation.signer
    before = signer.sign(BODY)
    done = run(env, "admin", "rotate-receipt-key")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("new receipt signing key ") and JWKS_PATH in done.stdout
    new_kid = done.stdout.split()[4].rstrip(";")
    after = signer.sign({**BODY, "receipt": "r-after"})  # this running process follows
    assert after["signature"]["kid"] == new_kid != before["signature"]["kid"]
    published = gateway.test_client().get(JWKS_PATH).get_json(force=True)
    assert [k["kid"] for k in published["keys"]] == [before["signature"]["kid"], new_kid]
    keys = write(tmp_path / "keys.json", published)
    for name, receipt in (("before", before), ("after", after)):
        file = write(tmp_path / f"{name}.json", receipt)
        assert run(env, "admin", "verify-receipt", file).stdout == "valid\n"
        assert run(env, "admin", "verify-receipt", "--jwks", keys, file).stdout == "valid\n"

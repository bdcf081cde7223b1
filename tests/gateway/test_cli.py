"""Key-ring commands: status, rotation under traffic, and retiring only what is unused."""

from __future__ import annotations

import threading
from typing import Any

import redis
from flask import Flask

from gateway import create_app
from gateway.crypto.keyring import new_key_entry
from gateway.storage.grant_sweeps import wrapped_keys

PURPOSE = "room-availability"
SCOPE = "https://www.googleapis.com/auth/calendar.freebusy"


def keys_command(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["keys", *args])


def make_grants(app: Flask, sign_in: Any, uid: str, count: int) -> list[str]:
    services = app.extensions["gateway"]
    connector = services.signin.connectors["google"]
    redirect_uri = services.settings.redirect_uri("google")
    made = []
    for n in range(count):
        request = connector.begin(redirect_uri, f"rotation-{n}", (SCOPE,))
        sign_in.emulator.client.authorize_next("alice@example.com")
        _, params = sign_in.at_provider(request.url)
        identity = connector.complete(redirect_uri, request.flow, params)
        made.append(services.grants.create(uid, PURPOSE, identity).id)
    return made


def test_rotation_under_load_then_retirement(
    app: Flask,
    sign_in: Any,
    client: Any,
    make_env: Any,
    gateway_env: dict[str, str],
    redis_client: redis.Redis,
) -> None:
    sign_in.complete("google", "alice@example.com")
    uid = client.get("/v1/me").get_json()["id"]
    grants = make_grants(app, sign_in, uid, 4)
    old_ring = gateway_env["GATEWAY_ENCRYPTION_KEYS"]
    old_version = old_ring.split(":")[0]

    new_entry = new_key_entry("v2")
    rotated = create_app(make_env(GATEWAY_ENCRYPTION_KEYS=f"{new_entry},{old_ring}"))
    service = rotated.extensions["gateway"].grants
    # 4 grants + the profile + the stable secrets (storage/stable_secrets.py)
    assert "v1: 6 data keys (newest)" in keys_command(app, "status").output
    refused = keys_command(rotated, "retire", old_version)
    assert refused.exit_code != 0
    assert "still wraps 6 data key(s); not retired" in refused.output

    failures: list[BaseException] = []
    uses = 0
    stop = threading.Event()

    def traffic(gid: str) -> None:
        nonlocal uses
        while not stop.is_set():
            try:
                service.access_token(uid, gid)
                uses += 1
            except BaseException as error:  # any failure at all fails the test
                failures.append(error)
                return

    threads = [threading.Thread(target=traffic, args=(grants[n % 4],)) for n in range(8)]
    for thread in threads:
        thread.start()
    result = keys_command(rotated, "rotate")
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    assert result.exit_code == 0, result.output
    assert "re-wrapped 6" in result.output
    assert failures == []
    assert uses > 0
    assert {w.split(":")[0] for _, w in wrapped_keys(redis_client)} == {"v2"}
    assert "v2: 6 data keys (newest)" in keys_command(rotated, "status").output
    for gid in grants:
        assert service.access_token(uid, gid)

    retired = keys_command(rotated, "retire", old_version)
    assert retired.exit_code == 0, retired.output
    assert "remove it from GATEWAY_ENCRYPTION_KEYS" in retired.output
    # a gateway on the new ring alone still keys pseudonyms as before the rotation
    only_new = create_app(make_env(GATEWAY_ENCRYPTION_KEYS=new_entry))
    before = app.extensions["gateway"].audit.pseudonym(uid)
    assert only_new.extensions["gateway"].audit.pseudonym(uid) == before
    newest = keys_command(rotated, "retire", "v2")
    assert newest.exit_code != 0
    assert "newest key version" in newest.output


def test_generate_prints_a_usable_entry(app: Flask) -> None:
    result = keys_command(app, "generate", "2027-01")
    assert result.exit_code == 0
    assert result.output.startswith("2027-01:")

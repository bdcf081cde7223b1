"""What sign-in costs Redis, and what of it reaches Redis's disk.

A sign-in start is anonymous: whatever it stores, anyone can make the gateway store, so it
stores nothing; a pending flow travels sealed in the browser. Microsoft's form_post answer
(authorization code, state, `client_info` = the user's oid and tenant) is sealed into the
redirect, never parked in Redis, so neither Redis nor its AOF ever holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from flask import Flask

from tests.conftest import SignIn, everything_stored
from tests.security.support import GOOGLE_ACCOUNT, MICROSOFT_ACCOUNT

STARTS = 2000
BUDGET = 256 * 1024  # bytes of used_memory the starts may add
ADDRESS = "203.0.113.7"  # one address for everybody: an office behind one NAT


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def test_two_thousand_cookieless_starts_cost_no_memory_and_a_colleague_still_signs_in(
    app: Flask, sign_in: SignIn, redis_client: redis.Redis, emulator: Any
) -> None:
    """2,000 sign-in starts without cookies from one address add ≤ 256 KB to Redis (today:
    0 keys), and a person at the same address signs in right after."""
    keys_before, memory_before = redis_client.dbsize(), used_memory(redis_client)
    providers = ("google", "microsoft", "emulator")
    for n in range(STARTS):
        flood = app.test_client()  # no cookie jar carried over: each start is cookieless
        answer = flood.get(f"/auth/login/{providers[n % 3]}", environ_base={"REMOTE_ADDR": ADDRESS})
        assert answer.status_code == 302, answer.get_data(as_text=True)
    added_keys = redis_client.dbsize() - keys_before
    added_memory = used_memory(redis_client) - memory_before
    print(f"{STARTS} starts: {added_keys} keys, {added_memory} bytes of used_memory")
    assert added_keys == 0
    assert added_memory <= BUDGET

    authorize_url = sign_in.client.get(
        "/auth/login/google", environ_base={"REMOTE_ADDR": ADDRESS}
    ).headers["Location"]
    emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(authorize_url)
    done = sign_in.client.get(path, query_string=params, environ_base={"REMOTE_ADDR": ADDRESS})
    assert done.status_code == 303, done.get_data(as_text=True)
    assert sign_in.client.get("/v1/me").status_code == 200


def aof_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*.aof*")) if p.is_file())


def test_a_microsoft_form_post_is_never_in_redis_nor_in_its_aof(
    sign_in: SignIn, redis_client: redis.Redis, redis_server: Any
) -> None:
    """The posted code, state and client_info: absent from every key and value, and from
    every AOF file, after the POST and again after the sign-in it completes."""
    authorize_url = sign_in.start("microsoft")
    sign_in.emulator.client.authorize_next(MICROSOFT_ACCOUNT)
    path, fields = sign_in.at_provider(authorize_url)
    assert path.startswith("POST ")
    secrets_posted = [fields["code"], fields["state"], fields["client_info"]]

    parked = sign_in.client.post(path.removeprefix("POST "), data=fields)
    assert parked.status_code == 303
    for value in secrets_posted:
        assert value not in parked.headers["Location"]  # sealed, also in the redirect
    data_dir = Path(redis_server.data_dir)
    assert list(data_dir.rglob("*.aof*")), "the test Redis writes an AOF"
    for value in secrets_posted:
        assert value not in everything_stored(redis_client)
        assert value.encode() not in aof_bytes(data_dir)

    done = sign_in.client.get(parked.headers["Location"])
    assert done.status_code == 303, done.get_data(as_text=True)
    assert sign_in.client.get("/v1/me").status_code == 200
    stored, on_disk = everything_stored(redis_client), aof_bytes(data_dir)
    for value in secrets_posted:
        assert value not in stored
        assert value.encode() not in on_disk

    again = sign_in.client.get(parked.headers["Location"])  # single use
    assert again.status_code == 400
    assert "<code>invalid_state</code>" in again.get_data(as_text=True)


def test_a_callback_replayed_with_a_copy_of_the_flow_cookie_redeems_nothing(
    sign_in: SignIn, emulator: Any
) -> None:
    """The flow cookie is the browser's, but a copy of it outlives the callback: the state's
    claim in Redis refuses the second callback before the token endpoint."""
    authorize_url = sign_in.start("google")
    copied = sign_in.client.get_cookie("gw_signin", domain="127.0.0.1")
    assert copied is not None
    emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(authorize_url)
    assert sign_in.back_to_gateway(path, params).status_code == 303
    spent = emulator.client.calls().get("google.token", 0)

    thief = SignIn(sign_in.client.application.test_client(), emulator)
    thief.client.set_cookie("gw_signin", copied.value, domain="127.0.0.1")
    replay = thief.back_to_gateway(path, params)
    assert replay.status_code == 400
    assert "<code>invalid_state</code>" in replay.get_data(as_text=True)
    assert emulator.client.calls().get("google.token", 0) == spent == 1
    assert thief.client.get("/v1/me").status_code == 401
    thief.http.close()

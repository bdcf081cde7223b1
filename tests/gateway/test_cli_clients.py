"""Client commands: the secret is printed once and only its hash is kept."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.storage.api_clients import client_key
from tests.gateway.blueprints.test_api_v1 import wire_api


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    wire_api(app)


def clients(app: Flask, *args: str, **kwargs: Any) -> Any:
    return app.test_cli_runner().invoke(args=["clients", *args], **kwargs)


def created(app: Flask, *args: str) -> tuple[str, str, Any]:
    result = clients(app, "create", *args)
    assert result.exit_code == 0, result.output
    secret = re.search(r"^secret: (gwc_\S+)$", result.stdout, re.M)
    assert secret is not None
    return result.stdout.split("\t", 1)[0], secret.group(1), result


def test_create_prints_the_secret_once_and_stores_only_its_hmac(
    app: Flask, redis_client: redis.Redis, redis_contents: Any
) -> None:
    client_id, secret, result = created(
        app,
        "booking",
        "--audience",
        "frontend",
        "--audience",
        "staff",
        "--room",
        "blue",
        "--rate-limit",
        "600/minute",
    )
    assert result.stdout.count(secret) == 1
    assert "not kept" in result.stderr and "cannot be shown again" in result.stderr
    assert f"{client_id}\tenabled\t600/minute" in result.stdout
    assert "audiences=frontend,staff\trooms=blue\tbooking" in result.stdout

    stored = redis_contents()
    assert secret not in stored
    assert secret.split(".", 1)[1] not in stored
    pepper = app.config["SECRET_KEY"].encode()
    expected = hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
    assert redis_client.hget(client_key(client_id), "secret_hash") == expected

    listed = clients(app, "list")
    assert listed.exit_code == 0
    assert client_id in listed.output and secret not in listed.output


def test_disable_enable_and_delete(app: Flask) -> None:
    client_id, _, _ = created(app, "booking", "--audience", "frontend")

    assert "\tdisabled\t" in clients(app, "disable", client_id).output
    assert "\tdisabled\t" in clients(app, "list").output
    assert "\tenabled\t" in clients(app, "enable", client_id).output
    deleted = clients(app, "delete", client_id, "--yes")
    assert deleted.exit_code == 0 and f"deleted {client_id}" in deleted.output
    assert clients(app, "list").output == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["create", "booking", "--audience", "frontend", "--rate-limit", "many"],
            "not a rate limit",
        ),
        (["create", "booking"], "at least one audience or room"),
        (["create", "booking", "--room", "Blue Room"], "is not a room id"),
        (["disable", "0123456789ab"], "there is no API client"),
        (["enable", "nope"], "there is no API client"),
        (["delete", "0123456789ab", "--yes"], "there is no API client"),
    ],
)
def test_mistakes_are_clear_errors(app: Flask, args: list[str], expected: str) -> None:
    result = clients(app, *args)
    assert result.exit_code != 0
    assert expected in result.output
    assert "secret:" not in result.output


def test_webhook_prints_its_signing_secret_once_and_refuses_a_private_address(
    app: Flask, redis_contents: Any
) -> None:
    client_id, _, _ = created(app, "booking", "--audience", "frontend")

    refused = clients(app, "webhook", client_id, "https://192.168.1.20/hooks")
    assert refused.exit_code != 0
    assert "private" in refused.output
    assert "webhook" not in redis_contents().replace("gw:{clients}:webhooks", "")

    result = clients(app, "webhook", client_id, "https://8.8.8.8/hooks")
    assert result.exit_code == 0, result.output
    secret = re.search(r"^signing secret: (whsec_\S+)$", result.stdout, re.M)
    assert secret is not None
    assert secret.group(1) not in redis_contents()
    app.extensions["gateway"].change_feed.store.log(
        client_id,
        "msg_1",
        {"type": "room.status.changed", "room": "atlas", "at": "2026-12-07T18:00:00Z",
         "status": "delivered", "answer": "ok", "attempts": 1},
    )  # fmt: skip
    listed = clients(app, "deliveries", client_id)
    assert listed.stdout.split("\t")[1:5] == [
        "room.status.changed",
        "atlas",
        "delivered",
        "attempts=1",
    ]
    removed = clients(app, "webhook-remove", client_id)
    assert removed.exit_code == 0
    assert app.extensions["gateway"].change_feed.endpoint(client_id) is None

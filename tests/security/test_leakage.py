"""T14 / ASVS 5.0 15.3.1, 14.2.6, 8.2.3, GDPR Art. 5(1)(c): nothing of a host's events but
busy start and end times leaves the provider connectors.

Canary title, location, attendee, description and organizer (every field a real event has)
are planted in events of a Google host and a Microsoft host (Graph's `scheduleItem` does
carry `subject` and `location`). Then every surface that touches those calendars is used:
the API (free/busy, slots, room list) by a client, the rooms page by a member, the host's
account page and data export. Bar: every
answer validates against a closed shape (busy items are exactly {start, end}); **0 canary
hits** in bodies, headers, log lines as production formats them, every Redis value, the
host's sealed grant record opened with its key, and the Redis AOF/RDB files on disk.

tests/gateway/services/test_freebusy.py checks the service's answer, raw Redis values and
caplog for one query; this drives the HTTP surfaces and adds headers, decrypted values and
the files on disk."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.crypto.vault import grant_context
from gateway.request_log import JsonFormatter
from gateway.storage import keys
from tests.conftest import everything_stored
from tests.hosts import Hosts
from tests.security.support import DAY, SLOTS, api_client, bearer, csrf_token

CANARIES = (
    "Canary merger 7f3a",
    "Canary boardroom 7f3a",
    "canary.attendee.7f3a@example.com",
    "Canary agenda 7f3a: the merger terms",
    "canary.organizer.7f3a@example.com",
)
GOOGLE_HOST, MICROSOFT_HOST = "alice@example.com", "carol@contoso.example"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """What the container runtime would collect: every record, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def plant(hosts: Hosts, account: str) -> None:
    for start, end in (("09:00", "10:30"), ("13:00", "14:00"), ("06:00", "07:00")):
        hosts.emulator.client.add_event(
            account,
            f"2026-11-25T{start}:00Z",
            f"2026-11-25T{end}:00Z",
            summary=CANARIES[0],
            location=CANARIES[1],
            attendees=[CANARIES[2]],
            description=CANARIES[3],
            organizer=CANARIES[4],
        )


def closed_shape(body: dict[str, Any]) -> None:
    """The free/busy answer: rooms → {status, busy, stale, asOf}, busy items {start, end}."""
    for room in body["rooms"].values():
        assert set(room) <= {"status", "busy", "stale", "asOf", "error", "reason"}, room
        for interval in room["busy"]:
            assert set(interval) == {"start", "end"}, interval


def test_event_details_never_leave_the_connectors(
    app: Flask,
    sign_in: Any,
    another_browser: Any,
    redis_client: redis.Redis,
    redis_server: Any,
    log_stream: io.StringIO,
) -> None:
    hosts = Hosts(app, sign_in, another_browser)
    alice, alice_grant = hosts.host("google", GOOGLE_HOST)
    carol, carol_grant = hosts.host("microsoft", MICROSOFT_HOST)
    hosts.room("atlas", alice, alice_grant)
    hosts.room("borealis", carol, carol_grant)
    plant(hosts, GOOGLE_HOST)
    plant(hosts, MICROSOFT_HOST)

    api = app.test_client()
    secret = api_client(app, "fe", {"frontend"})
    answers = [
        api.post(
            "/v1/freebusy", json={"rooms": ["atlas", "borealis"], **DAY}, headers=bearer(secret)
        ),
        api.get("/v1/rooms/atlas/slots", query_string=SLOTS, headers=bearer(secret)),
        api.get("/v1/rooms/borealis/slots", query_string=SLOTS, headers=bearer(secret)),
        api.get("/v1/rooms", headers=bearer(secret)),
    ]
    freebusy = answers[0].get_json()
    assert answers[0].status_code == 200, freebusy
    assert freebusy["rooms"]["atlas"]["status"] == "ok"
    assert freebusy["rooms"]["atlas"]["busy"], "the planted events must show as busy time"
    assert freebusy["rooms"]["borealis"]["busy"]
    closed_shape(freebusy)

    sign_in.complete("google", GOOGLE_HOST)  # the host's own pages
    answers += [
        sign_in.client.get("/account"),
        sign_in.client.get("/rooms"),
        sign_in.client.get("/v1/me/export"),
        sign_in.client.post(
            "/v1/freebusy",
            json={"rooms": ["atlas"], **DAY},
            headers={"X-CSRFToken": csrf_token(sign_in.client)},
        ),
    ]
    assert all(a.status_code < 500 for a in answers)

    shown = "\n".join(a.get_data(as_text=True) + "\n" + str(a.headers) for a in answers)
    stored = everything_stored(redis_client)
    opened = open_grants(app, redis_client, {alice: alice_grant, carol: carol_grant})
    redis_client.bgrewriteaof()
    on_disk = "\n".join(
        p.read_bytes().decode("latin-1")
        for p in Path(redis_server.data_dir).rglob("*")
        if p.is_file()
    )
    assert "api_v1.freebusy" in log_stream.getvalue() and "atlas" in stored and on_disk
    for canary in CANARIES:
        for where, text in (
            ("answers", shown),
            ("logs", log_stream.getvalue()),
            ("redis", stored),
            ("sealed grants", opened),
            ("files", on_disk),
        ):
            assert canary.lower() not in text.lower(), (canary, where)


def open_grants(app: Flask, store: redis.Redis, grants: dict[str, str]) -> str:
    """Every sealed field of the hosts' grants, decrypted with their own data keys."""
    vault = app.extensions["gateway"].vault
    opened = []
    for uid, gid in grants.items():
        record = store.hgetall(keys.grant(uid, gid))
        provider = str(record.get("provider", "google"))
        context = grant_context(uid, provider, gid)
        data_key = vault.owner_key(str(record["dk"]), context)
        opened.append(
            json.dumps(vault.open_json(data_key, str(record["tokens"]), context, "tokens"))
        )
    assert len(opened) == 2
    return "\n".join(opened)

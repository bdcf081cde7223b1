"""The GET form of free/busy: the POST's answer, with a strong ETag, and 304 Not Modified
for a frontend that polls, until something in the answer changed."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.services.api_clients import ApiClientService
from tests.gateway.blueprints.test_api_v1 import bearer, wire_api
from tests.hosts import PLANTED, Hosts

WINDOW = {"timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    wire_api(app)
    return Hosts(app, sign_in, another_browser)


@pytest.fixture
def secret(app: Flask) -> str:
    services = app.extensions["gateway"]
    return ApiClientService(services.api_clients, services.audit).create(
        "booking", audiences=["frontend"]
    )[1]


def test_the_get_form_answers_what_the_post_answers_then_304_until_a_change(
    app: Flask, client: FlaskClient, hosts: Hosts, secret: str
) -> None:
    uid, gid, _ = hosts.hosted_room("google", "atlas")
    hosts.room("boreal", uid, gid)
    query = {**WINDOW, "rooms": "atlas,boreal"}

    first = client.get("/v1/freebusy", query_string=query, headers=bearer(secret))
    posted = client.post(
        "/v1/freebusy", json={**WINDOW, "rooms": ["atlas", "boreal"]}, headers=bearer(secret)
    )
    assert first.status_code == 200
    assert first.get_json() == posted.get_json()
    assert first.get_json()["rooms"]["atlas"]["status"] == "ok"
    assert first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")

    again = client.get(
        "/v1/freebusy", query_string=query, headers={**bearer(secret), "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag

    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    slots = [(b.room_id, b.version) for b in app.extensions["gateway"].rooms.binding_records(uid)]
    app.extensions["gateway"].freebusy.refresh_slots(uid, gid, slots)  # as a notification does

    changed = client.get(
        "/v1/freebusy", query_string=query, headers={**bearer(secret), "If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.get_json()["rooms"]["atlas"]["busy"] == [
        {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"}
    ]
    for planted in PLANTED:
        assert planted not in changed.get_data(as_text=True)


def test_rooms_may_be_repeated_and_another_caller_never_shares_the_etag(
    app: Flask, client: FlaskClient, hosts: Hosts, secret: str
) -> None:
    hosts.hosted_room("google", "atlas")
    services = app.extensions["gateway"]
    other = ApiClientService(services.api_clients, services.audit).create(
        "kiosk", audiences=["frontend"]
    )[1]
    query = [("rooms", "atlas"), ("timeMin", WINDOW["timeMin"]), ("timeMax", WINDOW["timeMax"])]

    mine = client.get("/v1/freebusy", query_string=query, headers=bearer(secret))
    theirs = client.get(
        "/v1/freebusy",
        query_string=query,
        headers={**bearer(other), "If-None-Match": mine.headers["ETag"]},
    )

    assert mine.status_code == 200 and theirs.status_code == 200
    assert mine.get_json() == theirs.get_json()
    assert theirs.headers["ETag"] != mine.headers["ETag"]


@pytest.mark.parametrize(
    "query, says",
    [
        ({**WINDOW}, "rooms"),
        ({**WINDOW, "rooms": "atlas,atlas"}, "each room once"),
        ({**WINDOW, "rooms": "Atlas!"}, "is not a room id"),
        ({"rooms": "atlas", "timeMin": "tomorrow", "timeMax": WINDOW["timeMax"]}, "RFC 3339"),
        ({**WINDOW, "rooms": "atlas", "granularity": "seven"}, "granularity"),
        ({**WINDOW, "rooms": "atlas", "granularity": "7"}, "granularity"),
        ({**WINDOW, "rooms": "atlas", "colour": "blue"}, "colour"),
        ({**WINDOW, "rooms": "atlas", "timeMax": "2026-11-24T00:00:00Z"}, "after timeMin"),
    ],
)
def test_a_bad_query_is_a_400_that_says_what_is_wrong(
    client: FlaskClient, hosts: Hosts, secret: str, query: dict[str, str], says: str
) -> None:
    answer = client.get("/v1/freebusy", query_string=query, headers=bearer(secret))

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_request"
    assert says in answer.get_json()["message"]
    assert "ETag" not in answer.headers


def test_the_get_form_asks_for_a_caller_as_the_post_does(
    client: FlaskClient, hosts: Hosts, secret: str
) -> None:
    query = {**WINDOW, "rooms": "atlas"}

    nobody = client.get("/v1/freebusy", query_string=query)
    wrong = client.get("/v1/freebusy", query_string=query, headers=bearer(secret[:-1] + "x"))
    unseen = client.get("/v1/freebusy", query_string=query, headers=bearer(secret))

    assert nobody.status_code == 401 and nobody.get_json()["error"] == "unauthorized"
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "unauthorized"
    assert unseen.status_code == 404

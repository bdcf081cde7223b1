"""T13 / ASVS 5.0 8.2.1, 8.2.2, 8.4.1 (4.0.3 4.2.1), WSTG-ATHZ-04: object-level access on the
booking API over a matrix of callers x rooms.

Callers: anonymous, two signed-in users (Alice hosts a staff-only room), an API client of
audience `frontend`, one of audience `kiosk`. Rooms: one per audience, one for members, the
hosted one, and one that does not exist. For GET /v1/rooms/<id>/slots and POST /v1/freebusy:
visible → 200; invisible and nonexistent → the same status, the same body keys, the same
error code and the same message but for the id; anonymous → 401 everywhere.
test_api_v1.py checks one client and one hidden room; this is the full matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.support import (
    DAY,
    GOOGLE_ACCOUNT,
    OTHER_GOOGLE_ACCOUNT,
    SLOTS,
    api_client,
    bearer,
    csrf_token,
    make_room,
    signed_in_uid,
)

ROOMS = ("front", "kiosk", "members", "hosted-a")
NOWHERE = "nowhere"


@dataclass
class Caller:
    name: str
    client: FlaskClient
    headers: dict[str, str]
    visible: frozenset[str]


@pytest.fixture
def callers(app: Flask, sign_in: Any, client: FlaskClient, another_browser: Any) -> list[Caller]:
    sign_in.complete("google", GOOGLE_ACCOUNT)
    alice = signed_in_uid(client)
    bob_browser = another_browser()
    bob_browser.complete("google", OTHER_GOOGLE_ACCOUNT)
    make_room(app, "front", ["frontend"])
    make_room(app, "kiosk", ["kiosk"])
    make_room(app, "members", ["members"])
    make_room(app, "hosted-a", ["staff"], host=alice)
    front = api_client(app, "front-app", {"frontend"})
    kiosk = api_client(app, "kiosk-app", {"kiosk"})
    return [
        Caller("anonymous", app.test_client(), {}, frozenset()),
        Caller(
            "alice", client, {"X-CSRFToken": csrf_token(client)}, frozenset({"members", "hosted-a"})
        ),
        Caller(
            "bob",
            bob_browser.client,
            {"X-CSRFToken": csrf_token(bob_browser.client)},
            frozenset({"members"}),
        ),
        Caller("client-frontend", app.test_client(), bearer(front), frozenset({"front"})),
        Caller("client-kiosk", app.test_client(), bearer(kiosk), frozenset({"kiosk"})),
    ]


def slots(caller: Caller, room_id: str) -> Any:
    return caller.client.get(
        f"/v1/rooms/{room_id}/slots", query_string=SLOTS, headers=caller.headers
    )


def freebusy(caller: Caller, room_id: str) -> Any:
    return caller.client.post(
        "/v1/freebusy", json={"rooms": [room_id], **DAY}, headers=caller.headers
    )


def shape(answer: Any, room_id: str) -> tuple[int, tuple[str, ...], str, str, str]:
    body = answer.get_json()
    assert isinstance(body, dict), answer.get_data(as_text=True)
    return (
        answer.status_code,
        tuple(sorted(body)),
        str(body.get("error")),
        str(body.get("message", "")).replace(room_id, "<id>"),
        answer.headers.get("Content-Type", ""),
    )


@pytest.mark.parametrize("call", [slots, freebusy], ids=["slots", "freebusy"])
def test_the_matrix_of_callers_and_rooms(callers: list[Caller], call: Any) -> None:
    """T13: 0 unauthorized 2xx; invisible ≡ nonexistent; anonymous always 401."""
    unauthorized_2xx = []
    for caller in callers:
        refusals = {}
        for room_id in (*ROOMS, NOWHERE):
            answer = call(caller, room_id)
            if caller.name == "anonymous":
                assert answer.status_code == 401, (caller.name, room_id)
                assert answer.get_json()["error"] == "unauthorized"
                refusals[room_id] = shape(answer, room_id)
                continue
            if room_id in caller.visible:
                assert answer.status_code == 200, (caller.name, room_id, answer.get_json())
                continue
            if 200 <= answer.status_code < 300:
                unauthorized_2xx.append((caller.name, room_id))
            refusals[room_id] = shape(answer, room_id)
        nowhere = refusals.pop(NOWHERE)
        assert nowhere[0] in (401, 404)
        for room_id, refused in refusals.items():
            assert refused == nowhere, (caller.name, room_id, refused, nowhere)
    assert unauthorized_2xx == []


def test_each_caller_lists_exactly_its_rooms(callers: list[Caller]) -> None:
    """T13 / ASVS 8.2.2 on the collection: the listing never names an invisible room."""
    for caller in callers:
        answer = caller.client.get("/v1/rooms", headers=caller.headers)
        if caller.name == "anonymous":
            assert answer.status_code == 401
            continue
        listed = {room["id"] for room in answer.get_json()["rooms"]}
        assert listed == caller.visible, caller.name


@pytest.mark.parametrize(
    "path",
    [
        "/v1/rooms/KIOSK/slots",
        "/v1/rooms/kiosk%20/slots",
        "/v1/rooms/kiosk%00/slots",
        "/v1/rooms/front%2F..%2Fkiosk/slots",
        "/v1/rooms/front/../kiosk/slots",
        "/v1/rooms/./kiosk/slots",
        "/v1/rooms/kiosk/slots/",
        "/v1/rooms/%6biosk/slots",
    ],
)
def test_spelling_a_room_differently_does_not_reach_it(callers: list[Caller], path: str) -> None:
    """ASVS 8.2.2 / 15.3.7: case, encoding and dot-segment variants of a hidden room id give
    no 2xx to a client that cannot see it (`%6b` is `k`: that one *is* the room, and must
    be refused like the plain id)."""
    front = next(c for c in callers if c.name == "client-frontend")
    answer = front.client.get(path, query_string=SLOTS, headers=front.headers)
    assert answer.status_code in (308, 400, 404), (path, answer.status_code)
    if answer.status_code == 308:  # a redirect to the canonical form, then refused there
        again = front.client.get(answer.headers["Location"], headers=front.headers)
        assert again.status_code in (400, 404)


def test_a_bearer_client_does_not_gain_a_users_rooms_through_the_cookie(
    callers: list[Caller],
) -> None:
    """ASVS 8.2.1: with both a valid Bearer and Alice's session cookie, the Bearer decides."""
    alice = next(c for c in callers if c.name == "alice")
    front = next(c for c in callers if c.name == "client-frontend")
    answer = alice.client.get("/v1/rooms/hosted-a/slots", query_string=SLOTS, headers=front.headers)
    assert answer.status_code == 404
    listed = alice.client.get("/v1/rooms", headers=front.headers).get_json()["rooms"]
    assert {r["id"] for r in listed} == {"front"}

"""The booking API: who may call it, what it refuses and how, what it shows, and its limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from limits.storage import storage_from_string

from gateway.blueprints.api_models import FreeBusyResponse, RoomList, SlotsResponse
from gateway.blueprints.api_v1 import PUBLIC_ENDPOINTS, api_v1, request_caller
from gateway.cli_clients import clients_cli
from gateway.limits import ANONYMOUS_RATE_LIMIT, ApiLimiter, init_limits
from gateway.services.api_clients import ApiClientService
from gateway.services.freebusy_answer import MAX_DAYS, MAX_ROOMS

# The sign-in, free/busy and revocation suites hold on a single server and on a cluster.
pytestmark = pytest.mark.redis_deployments

DAY = {"timeMin": "2025-03-03T00:00:00Z", "timeMax": "2025-03-04T00:00:00Z"}
HOURS = {"monday": [["09:00", "17:00"]]}


def wire_api(app: Flask) -> None:
    """Until app.py registers them: the limiter, the blueprint (CSRF-exempt) and the CLI."""
    if "api_v1" not in app.blueprints:
        found = app.extensions["gateway"]
        init_limits(
            app,
            found.settings.redis_url or found.embedded_redis.url,
            limited=api_v1,
            public_endpoints=PUBLIC_ENDPOINTS,
            caller=request_caller,
        )
        app.register_blueprint(api_v1)
        app.extensions["csrf"].exempt(api_v1)
    if "clients" not in app.cli.commands:
        app.cli.add_command(clients_cli)


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    wire_api(app)


def clients(app: Flask) -> ApiClientService:
    return ApiClientService(app.extensions["gateway"].api_clients, app.extensions["gateway"].audit)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_room(app: Flask, room_id: str, visibility: list[str], **extra: Any) -> None:
    app.extensions["gateway"].rooms.create(
        {
            "id": room_id,
            "name": f"Room {room_id}",
            "location": "Ghent",
            "time_zone": "Europe/Brussels",
            "hours": HOURS,
            "visibility": visibility,
            **extra,
        }
    )


@pytest.fixture
def frontend(app: Flask) -> str:
    """The secret of a client of the `frontend` audience, with rooms blue and green."""
    make_room(app, "blue", ["frontend"])
    make_room(app, "green", ["staff"])
    return clients(app).create("booking", audiences=["frontend"])[1]


# -- who may call ------------------------------------------------------------------------------
def test_a_client_sees_its_rooms_and_never_who_hosts_them(
    app: Flask, client: FlaskClient, sign_in: Any
) -> None:
    sign_in.complete("google", "alice@example.com")
    host = client.get("/v1/me").get_json()["id"]
    make_room(app, "blue", ["frontend"], host=host)
    make_room(app, "green", ["staff"])
    make_room(app, "red", [])
    _, secret = clients(app).create("booking", audiences=["frontend"], rooms=["red"])

    answer = client.get("/v1/rooms", headers=bearer(secret))

    assert answer.status_code == 200
    body = answer.get_json()
    RoomList.model_validate(body)
    assert [r["id"] for r in body["rooms"]] == ["blue", "red"]
    assert body["rooms"][0] == {
        "id": "blue",
        "name": "Room blue",
        "location": "Ghent",
        "timeZone": "Europe/Brussels",
        "hours": HOURS,
        "exceptions": [],
        "capacity": None,
        "equipment": [],
    }
    assert host not in answer.get_data(as_text=True)
    assert "host" not in answer.get_data(as_text=True)


BAD_HEADERS = [
    pytest.param(lambda s: {"Authorization": "Bearer " + s[:-1] + "x"}, id="wrong-secret"),
    pytest.param(lambda s: {"Authorization": "Bearer gwc_000000000000.abc"}, id="unknown-client"),
    pytest.param(lambda s: {"Authorization": "Basic " + s}, id="not-bearer"),
    pytest.param(lambda s: {"Authorization": "Bearer"}, id="no-credential"),
    pytest.param(lambda s: {"Authorization": s}, id="no-scheme"),
    pytest.param(lambda s: {"Authorization": "Bearer " + s + "." + s}, id="garbled"),
    pytest.param(lambda s: {"Authorization": "Bearer " + "x" * 300}, id="too-long"),
]


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_a_bad_credential_is_a_401_that_does_not_say_what_was_wrong(
    client: FlaskClient, frontend: str, headers: Any
) -> None:
    answer = client.get("/v1/rooms", headers=headers(frontend))

    assert answer.status_code == 401
    assert answer.get_json() == {"error": "unauthorized", "message": "The credential is not valid."}
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")


def test_no_credential_and_no_session_is_a_401_with_a_bearer_challenge(
    client: FlaskClient, frontend: str
) -> None:
    for answer in (client.get("/v1/rooms"), client.post("/v1/freebusy", json=DAY)):
        assert answer.status_code == 401
        assert answer.get_json()["error"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="gateway"'


def test_a_disabled_client_is_refused_until_enabled_and_a_deleted_one_for_good(
    app: Flask, client: FlaskClient, frontend: str
) -> None:
    service = clients(app)
    client_id = service.all()[0].id
    service.disable(client_id)
    refused = client.get("/v1/rooms", headers=bearer(frontend))
    assert refused.status_code == 401
    assert refused.get_json()["message"] == "The credential is not valid."

    service.enable(client_id)
    assert client.get("/v1/rooms", headers=bearer(frontend)).status_code == 200

    service.delete(client_id)
    assert client.get("/v1/rooms", headers=bearer(frontend)).status_code == 401


def test_a_bad_bearer_never_falls_back_to_the_session(
    app: Flask, client: FlaskClient, sign_in: Any
) -> None:
    make_room(app, "blue", ["members"])
    sign_in.complete("google", "alice@example.com")
    assert client.get("/v1/rooms").status_code == 200
    assert client.get("/v1/rooms", headers=bearer("gwc_x.y")).status_code == 401


# -- session callers and CSRF ----------------------------------------------------------------------
def csrf_token(client: FlaskClient) -> str:
    page = client.get("/api").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "a signed-in page carries the session's CSRF token"
    return found.group(1)


def test_a_member_reads_member_rooms_and_posts_only_with_the_csrf_header(
    app: Flask, client: FlaskClient, sign_in: Any
) -> None:
    make_room(app, "blue", ["members"])
    make_room(app, "green", ["staff"])
    sign_in.complete("google", "alice@example.com")

    assert [r["id"] for r in client.get("/v1/rooms").get_json()["rooms"]] == ["blue"]
    body = {"rooms": ["blue"], **DAY}
    refused = client.post("/v1/freebusy", json=body)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "csrf_failed"
    assert "X-CSRFToken" in refused.get_json()["message"]
    forged = client.post("/v1/freebusy", json=body, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400

    answer = client.post("/v1/freebusy", json=body, headers={"X-CSRFToken": csrf_token(client)})
    assert answer.status_code == 200, answer.get_json()
    assert set(answer.get_json()["rooms"]) == {"blue"}


def test_a_bearer_post_needs_no_csrf_token(client: FlaskClient, frontend: str) -> None:
    answer = client.post("/v1/freebusy", json={"rooms": ["blue"], **DAY}, headers=bearer(frontend))
    assert answer.status_code == 200, answer.get_json()


# -- visibility --------------------------------------------------------------------------------
def test_a_room_outside_the_clients_audiences_looks_exactly_like_no_room(
    client: FlaskClient, frontend: str
) -> None:
    def refusal(room_id: str) -> tuple[int, Any]:
        answer = client.post(
            "/v1/freebusy", json={"rooms": ["blue", room_id], **DAY}, headers=bearer(frontend)
        )
        return answer.status_code, answer.get_json()

    hidden, unknown = refusal("green"), refusal("nowhere")
    assert hidden[0] == unknown[0] == 404
    assert hidden[1]["error"] == unknown[1]["error"]
    assert hidden[1]["message"].replace("green", "X") == unknown[1]["message"].replace(
        "nowhere", "X"
    )
    slots = {"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "30"}
    for room_id in ("green", "nowhere"):
        answer = client.get(
            f"/v1/rooms/{room_id}/slots", query_string=slots, headers=bearer(frontend)
        )
        assert answer.status_code == 404
        assert answer.get_json()["error"] == hidden[1]["error"]


def test_a_room_named_for_the_client_is_visible_outside_its_audiences(
    app: Flask, client: FlaskClient, frontend: str
) -> None:
    _, secret = clients(app).create("kiosk", rooms=["green"])
    answer = client.post("/v1/freebusy", json={"rooms": ["green"], **DAY}, headers=bearer(secret))
    assert answer.status_code == 200
    assert client.get("/v1/rooms", headers=bearer(secret)).get_json()["rooms"][0]["id"] == "green"


# -- what comes back -----------------------------------------------------------------------------
def test_freebusy_answers_every_room_in_utc_with_a_status(
    client: FlaskClient, frontend: str
) -> None:
    answer = client.post(
        "/v1/freebusy",
        json={
            "rooms": ["blue"],
            "timeMin": "2025-03-03T01:00:00+01:00",
            "timeMax": "2025-03-03T20:00:00+01:00",
            "granularity": 15,
        },
        headers=bearer(frontend),
    )
    assert answer.status_code == 200
    body = answer.get_json()
    FreeBusyResponse.model_validate(body)
    assert body["timeMin"] == "2025-03-03T00:00:00Z"
    assert body["timeMax"] == "2025-03-03T19:00:00Z"
    room = body["rooms"]["blue"]
    assert set(room) == {"busy", "status", "stale", "asOf"}
    assert room["status"] in {"ok", "unknown", "restricted", "needs_reconnect", "unbound"}
    for span in room["busy"]:
        assert span["start"].endswith("Z") and span["end"].endswith("Z")
    assert answer.headers["Cache-Control"] == "no-store"


def test_slots_answer_in_the_documented_shape(client: FlaskClient, frontend: str) -> None:
    answer = client.get(
        "/v1/rooms/blue/slots",
        query_string={"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "60"},
        headers=bearer(frontend),
    )
    assert answer.status_code == 200
    body = answer.get_json()
    SlotsResponse.model_validate(body)
    assert body["room"] == "blue" and body["duration"] == 60
    assert (body["from"], body["to"]) == (DAY["timeMin"], DAY["timeMax"])
    if body["status"] != "ok":
        assert body["slots"] == []  # a room that cannot be read is never free


def test_a_room_with_no_calendar_is_unbound_in_both_answers_and_the_document(
    client: FlaskClient, frontend: str
) -> None:
    """`unbound` (nobody connected a calendar) is told apart from `unknown` (the provider
    is failing): the booking frontend switches on the name."""
    busy = client.post("/v1/freebusy", json={"rooms": ["blue"], **DAY}, headers=bearer(frontend))
    assert busy.status_code == 200
    assert busy.get_json()["rooms"]["blue"] == {
        "busy": [],
        "status": "unbound",
        "stale": False,
        "asOf": None,
    }
    slots = client.get(
        "/v1/rooms/blue/slots",
        query_string={"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "30"},
        headers=bearer(frontend),
    )
    assert slots.status_code == 200
    assert (slots.get_json()["status"], slots.get_json()["slots"]) == ("unbound", [])

    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    names = ["ok", "unknown", "restricted", "needs_reconnect", "unbound"]
    for model in ("RoomBusy", "SlotsResponse"):
        status = schemas[model]["properties"]["status"]
        assert status["enum"] == names
        for name in names:
            assert f"`{name}`:" in status["description"]


# -- what is refused -------------------------------------------------------------------------
TOO_MANY = [f"r{i}" for i in range(MAX_ROOMS + 1)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"rooms": ["blue"], **DAY, "timeMin": "2025-03-03T00:00:00"},
            "timeMin: must be an RFC 3339",
        ),
        ({"rooms": ["blue"], **DAY, "timeMax": "2025-03-04"}, "timeMax: must be an RFC 3339"),
        ({"rooms": ["blue"], **DAY, "timeMin": 1741000000}, "timeMin: must be an RFC 3339"),
        ({"rooms": ["blue"], **DAY, "timeMax": "tomorrow"}, "timeMax: must be an RFC 3339"),
        ({"rooms": ["blue"], **DAY, "timeMax": DAY["timeMin"]}, "timeMax must be after timeMin"),
        (
            {"rooms": ["blue"], "timeMin": DAY["timeMin"], "timeMax": "2025-05-04T00:00:00Z"},
            f"at most {MAX_DAYS} days",
        ),
        ({"rooms": TOO_MANY, **DAY}, f"at most {MAX_ROOMS} rooms per call, got {MAX_ROOMS + 1}"),
        ({"rooms": ["blue", "green", "blue"], **DAY}, "blue named more than once"),
        ({"rooms": [], **DAY}, "name at least one room"),
        ({"rooms": ["../etc"], **DAY}, "is not a room id"),
        ({"rooms": "blue", **DAY}, "rooms: Input should be a valid array"),
        ({"rooms": ["blue"], **DAY, "calendar": "primary"}, "unknown field 'calendar'"),
        ({"rooms": ["blue"], "timeMin": DAY["timeMin"]}, "'timeMax' is required"),
        ({"rooms": ["blue"], **DAY, "granularity": 7}, "granularity: must be one of 0, 5"),
        (["blue"], "Input should be an object"),
    ],
)
def test_a_bad_freebusy_query_is_a_400_that_says_what_is_wrong(
    client: FlaskClient, frontend: str, body: Any, expected: str
) -> None:
    answer = client.post("/v1/freebusy", json=body, headers=bearer(frontend))
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_request"
    assert expected in answer.get_json()["message"]


def test_a_body_that_is_not_json_is_a_400(client: FlaskClient, frontend: str) -> None:
    answer = client.post("/v1/freebusy", data="{rooms:", headers=bearer(frontend))
    assert answer.status_code == 400
    assert "Invalid JSON" in answer.get_json()["message"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"to": DAY["timeMax"], "duration": "30"}, "'from' is required"),
        ({"from": DAY["timeMin"], "to": DAY["timeMax"]}, "'duration' is required"),
        (
            {"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "4"},
            "greater than or equal to 5",
        ),
        ({"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "481"}, "less than or equal"),
        ({"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "half"}, "duration: Input"),
        ({"from": "2025-03-03T00:00", "to": DAY["timeMax"], "duration": "30"}, "from: must be an"),
        ({"from": DAY["timeMax"], "to": DAY["timeMin"], "duration": "30"}, "to must be after from"),
        (
            {"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "30", "x": "1"},
            "unknown field 'x'",
        ),
    ],
)
def test_a_bad_slots_query_is_a_400_that_says_what_is_wrong(
    client: FlaskClient, frontend: str, query: dict[str, str], expected: str
) -> None:
    answer = client.get("/v1/rooms/blue/slots", query_string=query, headers=bearer(frontend))
    assert answer.status_code == 400
    assert expected in answer.get_json()["message"]


# -- rate limits -----------------------------------------------------------------------------
def test_a_client_over_its_limit_gets_429_with_retry_after_and_others_do_not(
    app: Flask, client: FlaskClient, frontend: str
) -> None:
    _, tiny = clients(app).create("tiny", audiences=["frontend"], rate_limit="2/minute")

    assert [client.get("/v1/rooms", headers=bearer(tiny)).status_code for _ in range(2)] == [
        200,
        200,
    ]
    # the budget is per client across every /v1 route
    answer = client.post("/v1/freebusy", json={"rooms": ["blue"], **DAY}, headers=bearer(tiny))

    assert answer.status_code == 429
    assert answer.get_json()["error"] == "rate_limited"
    assert "2 per 1 minute" in answer.get_json()["message"]
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert client.get("/v1/rooms", headers=bearer(frontend)).status_code == 200
    assert client.get("/openapi.json").status_code == 200  # the document is not metered


def test_a_client_with_two_limits_is_refused_by_the_first_to_run_out(
    app: Flask, client: FlaskClient
) -> None:
    _, secret = clients(app).create("layered", audiences=["frontend"], rate_limit="5/second;3/hour")

    codes = [client.get("/v1/rooms", headers=bearer(secret)).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    answer = client.get("/v1/rooms", headers=bearer(secret))
    assert "3 per 1 hour" in answer.get_json()["message"]
    assert 1 <= int(answer.headers["Retry-After"]) <= 3600


def test_failed_bearer_attempts_are_limited_per_address(
    client: FlaskClient, frontend: str, redis_contents: Any
) -> None:
    allowed = int(ANONYMOUS_RATE_LIMIT.split("/")[0])
    codes = [client.get("/v1/rooms", headers=bearer("gwc_a.b")).status_code for _ in range(allowed)]
    assert set(codes) == {401}
    answer = client.get("/v1/rooms", headers=bearer(frontend[:-1] + "x"))
    assert answer.status_code == 429
    assert "127.0.0.1" not in redis_contents()  # addresses are keyed by a keyed hash


def test_the_api_keeps_answering_when_the_limiter_storage_is_gone_and_counts_per_process(
    app: Flask, client: FlaskClient, frontend: str, tmp_path: Any
) -> None:
    _, tiny = clients(app).create("tiny", audiences=["frontend"], rate_limit="2/minute")
    dead = storage_from_string(f"redis+unix://{tmp_path}/nothing.sock", socket_timeout=0.1)
    app.extensions["gateway_limiter"] = ApiLimiter(dead)

    for _ in range(3):
        assert client.get("/v1/rooms", headers=bearer(frontend)).status_code == 200
    codes = [client.get("/v1/rooms", headers=bearer(tiny)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # the same limits, counted in this process

"""Every error example in /openapi.json is what the API answers: for each operation, status
and named example, the request that provokes it is sent to the seeded gateway (conftest.py)
as the caller it needs, and the answer's status and body are the example's, word for word.

The few that cannot be provoked here are named in `NOT_PROVOKED`, each with why and where
else it is pinned; an example that is neither provoked nor named there fails the test, so a
new example cannot go unchecked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from gateway.limits import ANONYMOUS_RATE_LIMIT
from gateway.openapi_errors import too_many
from gateway.openapi_examples_admin import FRONT_CLIENT, KIOSK_CLIENT
from gateway.services.freebusy_answer import MAX_DAYS, MAX_ROOMS
from tests.fuzz.conftest import FUZZ_HOST, NOWHERE, SESSION_COOKIE, Identity, World, fuzz_client

BLUE_WINDOW = {"timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}
SLOTS = {"from": "2026-11-25T08:00:00+01:00", "to": "2026-11-25T18:00:00+01:00", "duration": 60}
OUTSIDER = "dana@outside.test"
NEW_ROOM = {"id": "violet", "name": "Violet", "time_zone": "Europe/Brussels"}
# Examples no request here can provoke, with why and what pins them instead.
NOT_PROVOKED = {
    # Redis answering: tests/faults/ stop it; the message is gateway/errors.py's, and its
    # Retry-After the STORAGE_RETRY_AFTER the document's 503 states
    ("503", "storage"),
    # 601 or 301 requests; the same words as the anonymous one, from the same limit format
    # (test_a_429_names_the_callers_limit_as_the_example_does)
    ("429", "api_client"),
    ("429", "signed_in_user"),
}


@dataclass
class Provocation:
    """A request, and who sends it (`front`, `member`, `admin`, `outsider`, or nobody)."""

    method: str
    path: str
    who: str | None = "front"
    json: Any = None
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    csrf: bool = True
    repeat: int = 1


def own(operation_id: str, status: str, name: str, path: str, method: str) -> Provocation | None:
    """The operation's own examples: the requests that give them."""
    room = path.replace("{room_id}", NOWHERE if status == "404" else "blue")
    found = {
        ("api_v1_search_rooms", "backwards"): Provocation(
            method,
            room,
            json={"timeMin": BLUE_WINDOW["timeMax"], "timeMax": BLUE_WINDOW["timeMin"]},
        ),
        ("api_v1_freebusy", "too_many_rooms"): Provocation(
            method, room, json={"rooms": [f"r{i}" for i in range(MAX_ROOMS + 1)], **BLUE_WINDOW}
        ),
        ("api_v1_freebusy", "too_many_days"): Provocation(
            method,
            room,
            json={"rooms": ["blue"], "timeMin": "2026-01-01T00:00:00Z",
                  "timeMax": f"{date(2026, 1, 2) + timedelta(days=MAX_DAYS)}T00:00:00Z"},
        ),
        ("api_v1_freebusy", "out_of_range"): Provocation(
            method,
            room,
            json={"rooms": ["blue"], "timeMin": "1969-12-31T12:00:00Z",
                  "timeMax": "1970-01-02T00:00:00Z"},
        ),
        ("api_v1_freebusy_get", "too_many_days"): Provocation(
            method,
            room,
            query={"rooms": "blue", "timeMin": "2026-01-01T00:00:00Z",
                   "timeMax": f"{date(2026, 1, 2) + timedelta(days=MAX_DAYS)}T00:00:00Z"},
        ),
        ("api_v1_slots", "not_a_date_time"): Provocation(
            method, room, query={**SLOTS, "from": "2026-11-25"}
        ),
        ("api_v1_slots", "too_long"): Provocation(method, room, query={**SLOTS, "duration": 481}),
        ("privacy_restriction_json", "not_a_boolean"): Provocation(
            method, room, who="member", json={"restricted": "yes"}
        ),
        ("admin_rooms_create", "bad_id"): Provocation(
            method, room, who="admin", json={**NEW_ROOM, "id": "Violet Room"}
        ),
        ("admin_rooms_create", "exists"): Provocation(
            method, room, who="admin", json={**NEW_ROOM, "id": "blue"}
        ),
        ("admin_rooms_update", "bad_zone"): Provocation(
            method, room, who="admin", json={"time_zone": "Europe/Brusels"}
        ),
        ("admin_webhooks_webhook", "no_such_client"): Provocation(
            method, room.replace("{client_id}", NOWHERE), who="admin"
        ),
        ("admin_webhooks_webhook", "no_webhook"): Provocation(
            method, room.replace("{client_id}", KIOSK_CLIENT), who="admin"
        ),
        ("admin_webhooks_deliveries", "no_such_client"): Provocation(
            method, room.replace("{client_id}", NOWHERE), who="admin"
        ),
    }  # fmt: skip
    return found.get((operation_id, name))


def generic(
    operation: dict[str, Any], status: str, name: str, path: str, method: str
) -> Provocation | None:
    """The examples many operations share: a well-formed request, sent as the wrong caller,
    without its CSRF token, too big, too often, or about a room that is not there."""
    schemes = {scheme for item in operation["security"] for scheme in item}
    owner = "front" if "bearer" in schemes else "admin" if "/admin/" in path else "member"
    room = path.replace("{room_id}", NOWHERE if status == "404" else "blue")
    room = room.replace("{client_id}", NOWHERE if status == "404" else FRONT_CLIENT)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    # the search's example is its schema's; an empty body is refused after every check here
    json = body.get("example", {} if "requestBody" in operation else None)
    query = {p["name"]: p["example"] for p in operation.get("parameters", []) if p["in"] == "query"}
    if path == "/v1/freebusy" and status == "404" and json is not None:
        json = {**json, "rooms": [NOWHERE]}
    elif path == "/v1/freebusy" and status == "404":
        query = {**query, "rooms": [NOWHERE]}
    send = Provocation(method, room, who=owner, json=json, query=query)
    if status == "401" and name in ("no_credential", "not_signed_in"):
        send.who = None
    elif status == "401" and name == "invalid_credential":
        send.who, send.headers = None, {"Authorization": "Bearer gwc_x.y"}
    elif status == "400" and name == "csrf_failed":
        send.who = "member" if owner == "front" else owner
        send.csrf = False
    elif status == "403" and name == "not_an_admin":
        send.who = "outsider"
    elif status == "404" and name == "no_such_room":
        pass
    elif status == "413" and name == "too_large":
        send.json = {"padding": "x" * (64 * 1024)}
    elif status == "429" and name == "anonymous":
        send.who, send.repeat = None, int(ANONYMOUS_RATE_LIMIT.split("/")[0]) + 1
    else:
        return None
    return send


def sent(world: World, callers: dict[str | None, Identity | None], provocation: Provocation) -> Any:
    # the session goes as a Cookie header: with cookies on, the test client would replace
    # that header with its own jar's, and a cookie set on it for "localhost" is not sent
    client = world.app.test_client(use_cookies=False)
    client.environ_base["HTTP_HOST"] = FUZZ_HOST
    headers = dict(provocation.headers)
    who = callers[provocation.who]
    if who is not None and who.bearer is not None:
        headers["Authorization"] = f"Bearer {who.bearer}"
    elif who is not None:
        assert who.cookie is not None and who.csrf is not None
        headers["Cookie"] = f"{SESSION_COOKIE}={who.cookie}"
        if provocation.csrf:
            headers["X-CSRFToken"] = who.csrf
    world.fresh_limits()
    kwargs: dict[str, Any] = {"headers": headers, "query_string": provocation.query}
    if provocation.json is not None:
        kwargs["json"] = provocation.json
    for _ in range(provocation.repeat):
        answer = client.open(provocation.path, method=provocation.method, **kwargs)
    return answer


def error_examples(document: dict[str, Any]) -> Iterator[tuple[str, str, str, str, Any, Any]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if status.startswith("2"):
                    continue
                examples = answer["content"]["application/json"]["examples"]
                for name, example in examples.items():
                    yield path, method.upper(), status, name, operation, example["value"]


def test_every_error_example_is_what_the_api_answers(world: World, emulator: Any) -> None:
    document = fuzz_client(world.app).get("/openapi.json").get_json()
    # everyone at example.com is an administrator in this world: one who is not
    emulator.client.add_account(OUTSIDER, "Dana Outside", "google")
    callers: dict[str | None, Identity | None] = {
        "front": world.front,
        "member": world.member,
        "admin": world.admin,
        "outsider": world.sign_in(emulator, OUTSIDER),
        None: None,
    }
    checked, skipped = 0, set()
    for path, method, status, name, operation, example in error_examples(document):
        if (status, name) in NOT_PROVOKED:
            skipped.add((status, name))
            continue
        provocation = own(operation["operationId"], status, name, path, method) or generic(
            operation, status, name, path, method
        )
        assert provocation is not None, f"no request provokes {method} {path} {status} {name}"
        answer = sent(world, callers, provocation)
        where = f"{method} {path} {status} {name}"
        assert answer.status_code == int(status), (where, answer.get_data(as_text=True)[:300])
        assert answer.get_json() == example, where
        checked += 1
    assert skipped == NOT_PROVOKED  # none of them is stale
    assert checked >= 40, checked


def test_a_429_names_the_callers_limit_as_the_example_does(world: World) -> None:
    """The api_client and signed_in_user examples are `too_many(limit)` of their limits;
    here a client with a small limit of its own hears exactly `too_many` of it."""
    gateway = world.app.extensions["gateway"]
    with world.app.app_context():
        _, secret = gateway.api_clients.create("tight", {"frontend"}, set(), "2/minute")
    client = fuzz_client(world.app)
    world.fresh_limits()
    for _ in range(3):
        answer = client.get("/v1/rooms", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 429
    code, message = too_many("2/minute")
    assert answer.get_json() == {"error": code, "message": message}

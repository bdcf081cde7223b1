"""Schemathesis against the gateway's own /openapi.json (SECURITY.md T13, T28).

Every operation in the document is fuzzed in-process (WSGI) with credentials: a Bearer
secret where the operation takes one, otherwise a signed-in session with its CSRF token.
Positive and negative cases, derandomised, a bounded number per operation. Checks:
no 5xx, documented status codes, content types, headers and bodies, negative data refused,
declared authentication enforced (`ignored_auth`), and object-level authorization — each
2xx names only rooms its caller may see, and the same request replayed by another caller
that may not see one of them is refused exactly like a request for a room that does not
exist (T13: "unauthorized and nonexistent rooms give the same status and body shape").

Three positive cases in four are steered onto the seeded rooms and days with events (see
conftest.py), so answers carry real busy time rather than only 400s and 404s."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.fuzz.conftest import BOB, NOWHERE, WINDOWS, Identity, World, fuzz_client

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
    unsupported_method,
]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    # the document's own examples cannot go with @given: test_openapi_examples.py sends them
    phases=tuple(p for p in Phase if p is not Phase.explicit),
)


class Credentials:
    """A schemathesis auth provider: the owner's Bearer secret where the operation takes
    one, else the session given for it (with its CSRF token for unsafe methods)."""

    def __init__(self, bearer: Identity | None, session: Callable[[], Identity]) -> None:
        self.bearer = bearer
        self.session = session

    def get(self, case: Any, context: Any) -> Identity | None:
        schemes = {
            name for item in case.operation.definition.raw.get("security", []) for name in item
        }
        if "bearer" in schemes and self.bearer is not None:
            return self.bearer
        return self.session() if "session" in schemes else None

    def set(self, case: Any, data: Identity, context: Any) -> None:
        apply_identity(case.headers, case.cookies, data)


def apply_identity(headers: dict[str, Any], cookies: dict[str, Any], who: Identity) -> None:
    if who.bearer is not None:
        headers["Authorization"] = f"Bearer {who.bearer}"
    else:
        assert who.cookie is not None and who.csrf is not None
        cookies["gw_session"] = who.cookie
        headers["X-CSRFToken"] = who.csrf


def loaded(world: World, bearer: Identity | None, session: Callable[[], Identity]) -> Any:
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"generation": {"mode": "all", "deterministic": True}}
    )
    schema = schemathesis.openapi.from_wsgi("/openapi.json", world.app, config=config)
    schema.auth.providers.append(Credentials(bearer, session))
    return schema


@pytest.fixture
def booking_schema(world: World) -> Any:
    return loaded(world, world.front, lambda: world.member)


@pytest.fixture
def admin_schema(world: World) -> Any:
    return loaded(world, None, lambda: world.admin)


@pytest.fixture
def erasure_schema(world: World, emulator: Any) -> Any:
    """Every case signs Bob in anew: a successful erasure ends the session it came on."""
    return loaded(world, None, lambda: world.sign_in(emulator, BOB))


booking = (
    schemathesis.pytest.from_fixture("booking_schema")
    .exclude(path_regex="^/v1/admin/")
    .exclude(path="/v1/me", method="DELETE")  # erasure ends the session: fuzzed on its own
)
admin = schemathesis.pytest.from_fixture("admin_schema").include(path_regex="^/v1/admin/")
erasure = schemathesis.pytest.from_fixture("erasure_schema").include(path="/v1/me", method="DELETE")


# -- steering positive cases onto seeded data -------------------------------------------------
def positive(case: Any) -> bool:
    return case.meta is not None and not case.meta.generation.mode.is_negative


def steer(case: Any, data: Any, world: World) -> None:
    """Three positive cases in four: seeded room ids, mostly ones the caller may see, now and
    then one it may not or one that does not exist, over days with events in the emulator.
    Negative cases are left as generated."""
    if not positive(case) or data.draw(st.integers(0, 3), label="seeded") == 0:
        return
    owner = world.owner_of(case)
    mine = st.sampled_from(sorted(owner.visible or world.rooms))
    anything = st.sampled_from([*world.rooms, NOWHERE])
    window = data.draw(st.sampled_from(WINDOWS), label="window")
    if case.path_parameters and "room_id" in case.path_parameters:
        case.path_parameters["room_id"] = data.draw(mine | anything, label="room_id")
    if case.operation.path == "/v1/rooms/{room_id}/slots":
        case.query.update({"from": window[0], "to": window[1]})
    if case.operation.path == "/v1/freebusy" and isinstance(case.body, dict):
        chosen = data.draw(st.lists(mine, min_size=1, max_size=3, unique=True), label="rooms")
        if data.draw(st.integers(0, 3), label="stranger") == 0:
            chosen.append(data.draw(anything.filter(lambda r: r not in chosen), label="other"))
        case.body.update({"rooms": chosen, "timeMin": window[0], "timeMax": window[1]})


# -- object-level authorization -------------------------------------------------------------
def rooms_named(body: Any) -> set[str]:
    """Room ids an answer of the booking API speaks about."""
    if not isinstance(body, Mapping):
        return set()
    found: set[str] = set()
    if isinstance(body.get("room"), str):
        found.add(body["room"])
    rooms = body.get("rooms")
    if isinstance(rooms, Mapping):
        found |= {str(r) for r in rooms}
    elif isinstance(rooms, list):
        found |= {str(r["id"]) for r in rooms if isinstance(r, Mapping) and "id" in r}
    return found


def rooms_asked(case: Any) -> set[str]:
    asked = set()
    if case.path_parameters and isinstance(case.path_parameters.get("room_id"), str):
        asked.add(case.path_parameters["room_id"])
    if isinstance(case.body, Mapping) and isinstance(case.body.get("rooms"), list):
        asked |= {r for r in case.body["rooms"] if isinstance(r, str)}
    return asked


def send_as(app: Flask, case: Any, who: Identity, rooms: dict[str, Any] | None = None) -> Any:
    """The case's request as `who` sends it, optionally with other room ids."""
    path_parameters = dict(case.path_parameters or {})
    body = case.body
    if rooms is not None:
        path_parameters.update(rooms.get("path", {}))
        body = rooms.get("body", body)
    path = case.operation.path.format(**path_parameters)
    headers: dict[str, Any] = {}
    client = fuzz_client(app)
    cookies: dict[str, Any] = {}
    apply_identity(headers, cookies, who)
    for name, value in cookies.items():
        client.set_cookie(name, value, domain="localhost")
    kwargs: dict[str, Any] = {"headers": headers, "query_string": dict(case.query or {})}
    if isinstance(body, Mapping):
        kwargs["json"] = body
    return client.open(path, method=case.method, **kwargs)


def refusal(answer: Any, room_ids: set[str]) -> tuple[int, tuple[str, ...], str, str]:
    body = answer.get_json(silent=True)
    assert isinstance(body, dict), answer.get_data(as_text=True)[:300]
    message = str(body.get("message", ""))
    for room_id in sorted(room_ids, key=len, reverse=True):
        message = message.replace(room_id, "<id>")
    return answer.status_code, tuple(sorted(body)), str(body.get("error")), message


def check_object_level_authorization(world: World, case: Any, response: Any) -> None:
    """T13 over the generated cases: the owner's 2xx names only rooms it may see; a peer
    who may not see a room the case asked about gets no 2xx, and the same refusal as for a
    room that does not exist."""
    owner = world.owner_of(case)
    if "rooms" not in case.operation.tags or not 200 <= response.status_code < 300:
        return
    named = rooms_named(response.json())
    assert named <= owner.visible, (case.operation.label, owner.name, named - owner.visible)
    asked = rooms_asked(case)
    if not asked:
        return
    for peer in world.peers_of(owner):
        hidden = asked - peer.visible
        answer = send_as(world.app, case, peer)
        world.replays += 1
        if not hidden:
            continue
        assert not 200 <= answer.status_code < 300, (case.operation.label, peer.name, hidden)
        nowhere: dict[str, Any] = {"path": {"room_id": NOWHERE}}
        if isinstance(case.body, Mapping) and isinstance(case.body.get("rooms"), list):
            nowhere = {"body": {**case.body, "rooms": [NOWHERE]}}
        baseline = send_as(world.app, case, peer, nowhere)
        assert refusal(answer, hidden) == refusal(baseline, {NOWHERE}), (
            case.operation.label,
            peer.name,
            hidden,
        )


# -- the fuzz tests -------------------------------------------------------------------------
@pytest.fixture
def reached(world: World) -> Iterator[None]:
    """After the run: the fuzzer got past validation onto seeded data, not only 4xx."""
    yield
    assert world.busy_answers > 0, world.statuses
    assert world.statuses[("GET /v1/rooms/{room_id}/slots", 200)] > 0, world.statuses
    assert world.replays > 0


@booking.parametrize()
@booking.given(data=st.data())
@FUZZ
@pytest.mark.usefixtures("reached")
def test_booking_api(case: Any, data: Any, world: World) -> None:
    """/v1/rooms, /v1/freebusy, /v1/rooms/{id}/slots as the `front` client; /v1/me,
    export, restriction as Bob's session; the public register anonymously."""
    steer(case, data, world)
    world.fresh_limits()
    response = case.call_and_validate(checks=CHECKS)
    world.count(case, response)
    check_object_level_authorization(world, case, response)


@admin.parametrize()
@admin.given(data=st.data())
@FUZZ
def test_admin_rooms_api(case: Any, data: Any, world: World) -> None:
    """/v1/admin/rooms as Alice, an administrator (her session and CSRF token)."""
    steer(case, data, world)
    response = case.call_and_validate(checks=CHECKS)
    world.count(case, response)


@erasure.parametrize()
@settings(FUZZ, max_examples=5)
def test_erasure_api(case: Any, world: World) -> None:
    """DELETE /v1/me (GDPR Art. 17) on a fresh session each time; after it, the session is
    gone and Alice's rooms still answer."""
    response = case.call_and_validate(checks=CHECKS)
    world.count(case, response)
    if case.method == "DELETE" and response.status_code == 200:
        receipt = response.json()
        assert receipt["kind"] == "erasure" and receipt["deleted"]["sessions"] >= 1

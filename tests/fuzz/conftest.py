"""A seeded gateway for the fuzzers: real Redis, the emulator over HTTPS, and data that
makes answers mean something.

Alice (an administrator by e-mail domain) hosts rooms bound to her room-availability grant;
her calendar has events on the days in `WINDOWS`. Two API clients see different rooms
(`front`: audience frontend, with a webhook; `kiosk`: audience kiosk plus one room named
explicitly), their ids the ones the admin API's examples name. Bob,
a member, signs in in another browser: his session is the credential of the
session-only operations, and a third caller for the object-level checks.

Schemathesis' WSGI transport sends requests to host `localhost` (and keeps its cookies
there), so that host is trusted besides the public URL's."""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.openapi_examples_admin import FRONT_CLIENT, HOOK_URL, KIOSK_CLIENT
from tests.conftest import SignIn
from tests.gateway.services.test_grants import grant_for
from tests.security import support

ALICE = "alice@example.com"
BOB = "bob@example.com"
SESSION_COOKIE = "gw_session"
FUZZ_HOST = "localhost"
NOWHERE = "nowhere"
HOURS = {d: [["08:00", "18:00"]] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")}
EVENT_DAYS = ("2026-11-24", "2026-11-25", "2026-11-26")
EVENTS = (("09:00", "10:30"), ("13:15", "14:00"))
WINDOWS = (
    ("2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"),
    ("2026-11-24T06:00:00+01:00", "2026-11-27T06:00:00+01:00"),
    ("2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"),
)


@dataclass(frozen=True)
class Identity:
    """One caller: a Bearer secret, or a session cookie and its CSRF token."""

    name: str
    bearer: str | None = None
    cookie: str | None = None
    csrf: str | None = None
    visible: frozenset[str] = frozenset()


@dataclass
class World:
    app: Flask
    front: Identity
    kiosk: Identity
    member: Identity
    admin: Identity
    rooms: tuple[str, ...]
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    busy_answers: int = 0
    replays: int = 0

    def peers_of(self, owner: Identity) -> list[Identity]:
        return [i for i in (self.front, self.kiosk, self.member) if i != owner]

    def owner_of(self, case: Any) -> Identity:
        """Who the fuzzer sends a case as (see `Credentials` in the test module)."""
        schemes = {
            name for item in case.operation.definition.raw.get("security", []) for name in item
        }
        if case.operation.path.startswith("/v1/admin/"):
            return self.admin
        return self.front if "bearer" in schemes else self.member

    def sign_in(self, emulator: Any, account: str) -> Identity:
        """A new session of `account` (Bob's export or erasure must not touch Alice's data)."""
        browser, _ = signed_in(self.app, emulator, account)
        cookie, csrf = session_of(browser.client)
        return Identity(account, cookie=cookie, csrf=csrf)

    def fresh_limits(self) -> None:
        """Every case starts with empty rate-limit windows: the fuzzer's anonymous probes
        all come from one address and would otherwise be answered 429 instead of 401."""
        self.app.extensions["gateway_limiter"].reset()

    def count(self, case: Any, response: Any) -> None:
        self.statuses[(case.operation.label, response.status_code)] += 1
        if case.operation.path != "/v1/freebusy" or response.status_code != 200:
            return
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("rooms"), dict):
            self.busy_answers += any(r.get("busy") for r in body["rooms"].values())


def fuzz_client(app: Flask) -> FlaskClient:
    """A test client that speaks to the host the fuzzer uses."""
    client = app.test_client()
    client.environ_base["HTTP_HOST"] = FUZZ_HOST
    return client


def session_of(client: FlaskClient) -> tuple[str, str]:
    """The session cookie value of a browser and the CSRF token of its session."""
    cookie = client.get_cookie(SESSION_COOKIE, domain="127.0.0.1")
    assert cookie is not None
    page = client.get("/account").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return cookie.value, found.group(1)


def uid_of(client: FlaskClient) -> str:
    answer = client.get("/v1/me")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()["id"])


def signed_in(app: Flask, emulator: Any, account: str) -> tuple[SignIn, str]:
    browser = SignIn(app.test_client(), emulator)
    try:
        browser.complete("google", account)
    finally:
        browser.http.close()
    return browser, uid_of(browser.client)


def make_room(app: Flask, room_id: str, visibility: list[str], host: str | None = None) -> str:
    """Rooms in Brussels, bookable on weekdays: the seeded events fall inside their hours."""
    return support.make_room(
        app, room_id, visibility, host, time_zone="Europe/Brussels", hours=HOURS
    )


def api_client(
    app: Flask, name: str, audiences: set[str], rooms: set[str] | None = None, client_id: str = ""
) -> str:
    """A new API client's Bearer secret, with a limit no fuzz run reaches; `client_id` fixed
    where the document's examples name it (gateway/openapi_examples_admin.py)."""
    with app.app_context():
        _, secret = app.extensions["gateway"].api_clients.create(
            name, audiences, rooms or set(), "100000/second", client_id=client_id or None
        )
    return str(secret)


def webhook(app: Flask, client_id: str, url: str) -> None:
    """The client's webhook as the examples show it, stored as registering stores it (the
    address is an example one, which the SSRF rules would look up and refuse here)."""
    signing = b"fuzz world webhook secret, 32 b!"
    secret = "whsec_" + base64.b64encode(signing).decode()  # pragma: allowlist secret
    app.extensions["gateway"].change_feed.store.put(client_id, url, secret)


@pytest.fixture
def fuzz_app(
    make_env: Callable[..., dict[str, str]], build_gateway: Callable[[dict[str, str]], Flask]
) -> Flask:
    return build_gateway(
        make_env(GATEWAY_ADMIN_EMAIL_DOMAIN="example.com", GATEWAY_TRUSTED_HOSTS=FUZZ_HOST)
    )


@pytest.fixture
def world(fuzz_app: Flask, emulator: Any) -> Iterator[World]:
    app = fuzz_app
    alice_browser, alice = signed_in(app, emulator, ALICE)
    gid = grant_for(app, alice_browser, alice)
    alice_browser.http.close()
    bob_browser, _ = signed_in(app, emulator, BOB)
    for day in EVENT_DAYS:
        for start, end in EVENTS:
            emulator.client.add_event(ALICE, f"{day}T{start}:00Z", f"{day}T{end}:00Z")
    rooms = app.extensions["gateway"].rooms
    for room_id, visibility in (("blue", ["frontend"]), ("red", ["kiosk"]), ("staff", ["staff"])):
        make_room(app, room_id, visibility, host=alice)
        rooms.bind(alice, room_id, gid)
    make_room(app, "green", ["frontend"])
    make_room(app, "lobby", ["members"])
    make_room(app, "attic", [])
    admin_cookie, admin_csrf = session_of(alice_browser.client)
    member_cookie, member_csrf = session_of(bob_browser.client)
    front = api_client(app, "front", {"frontend"}, client_id=FRONT_CLIENT)
    webhook(app, FRONT_CLIENT, HOOK_URL)
    yield World(
        app=app,
        front=Identity("front", bearer=front, visible=frozenset({"blue", "green"})),
        kiosk=Identity(
            "kiosk",
            bearer=api_client(app, "kiosk", {"kiosk"}, {"attic"}, client_id=KIOSK_CLIENT),
            visible=frozenset({"red", "attic"}),
        ),
        member=Identity(
            "bob", cookie=member_cookie, csrf=member_csrf, visible=frozenset({"lobby"})
        ),
        admin=Identity("alice", cookie=admin_cookie, csrf=admin_csrf),
        rooms=("blue", "green", "red", "staff", "lobby", "attic"),
    )

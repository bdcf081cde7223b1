"""A host connects a CalDAV calendar on the consent page; its room's busy times come from a
real Radicale over TLS (tests/connectors/radicale_server.py), and no planted text or
password reaches an answer, a log line or Redis."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from flask import Flask
from flask.testing import FlaskClient

from gateway.services import consent_attempts
from tests.conftest import SignIn
from tests.connectors.caldav_events import DAY, EVENTS, EXPECTED, PLANTED
from tests.connectors.radicale_server import Radicale, seed, start_radicale
from tests.gateway.typed_credential_support import (
    PAGE,
    bound_room,
    csrf,
    enabled,
    send_consent_form,
    signed_in_host,
)
from tests.hosts import FRONTEND

PASSWORD = "radicale-app-pw-7"  # pragma: allowlist secret


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def radicale(tmp_path: Path, ca: trustme.CA) -> Iterator[Radicale]:
    with start_radicale(tmp_path / "radicale", ca, {"alice": PASSWORD}) as server:
        yield server


@pytest.fixture
def caldav_app(
    make_env: Callable[..., dict[str, str]],
    build_gateway: Callable[[dict[str, str]], Flask],
    emulator: Any,
    ca: trustme.CA,
    tmp_path: Path,
) -> Flask:
    settings = enabled("caldav", tmp_path, emulator, ca)
    return build_gateway(make_env(**settings, GATEWAY_FREEBUSY_DEADLINE_SECONDS="3"))


@pytest.fixture
def host(caldav_app: Flask, emulator: Any) -> Iterator[tuple[FlaskClient, str]]:
    """A signed-in member (through the emulator) and their user id."""
    with signed_in_host(caldav_app, emulator) as signed_in:
        yield signed_in


def connect(client: FlaskClient, server: Radicale, password: str = PASSWORD) -> Any:
    fields = {"server_url": server.url, "username": "alice", "password": password}
    return send_consent_form(client, "caldav", **fields)


def hosted_room(app: Flask, uid: str, gid: str, room_id: str = "caldav-room") -> str:
    return bound_room(app, uid, gid, room_id, "CalDAV room")


def room_answer(app: Flask, room_id: str) -> Any:
    return app.extensions["gateway"].freebusy.query(FRONTEND, [room_id], *DAY).rooms[room_id]


def test_the_consent_page_shows_the_app_password_form(host: tuple[FlaskClient, str]) -> None:
    client, _ = host
    page = client.get(PAGE, query_string={"provider": "caldav"}).get_data(as_text=True)
    for name in ("server_url", "username", "password", "csrf_token"):
        assert f'name="{name}"' in page
    assert 'name="provider" value="caldav"' in page
    assert 'type="password"' in page and 'action="/consent/room-availability"' in page
    assert "https://caldav.icloud.com/" in page and "Fastmail" in page and "Nextcloud" in page
    preset = client.get(
        PAGE, query_string={"provider": "caldav", "server_url": "https://caldav.icloud.com/"}
    ).get_data(as_text=True)
    assert 'value="https://caldav.icloud.com/"' in preset
    other = client.get(
        PAGE, query_string={"provider": "caldav", "server_url": "https://evil.example/"}
    ).get_data(as_text=True)
    assert "evil.example" not in other  # only a preset's URL is taken from the query


def test_a_wrong_password_keeps_nothing_and_says_so(
    caldav_app: Flask,
    host: tuple[FlaskClient, str],
    radicale: Radicale,
    redis_contents: Callable[[], str],
) -> None:
    client, uid = host
    answer = connect(client, radicale, password="not-the-password")
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "refused that user name and app password" in page
    assert "not-the-password" not in page and 'value="alice"' in page
    assert caldav_app.extensions["gateway"].grants.list(uid) == []
    assert "not-the-password" not in redis_contents()


def test_a_connected_calendar_gives_busy_times_and_nothing_else(
    caldav_app: Flask,
    host: tuple[FlaskClient, str],
    radicale: Radicale,
    redis_contents: Callable[[], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seed(radicale, "alice", "Room calendar", EVENTS)
    client, uid = host
    answer = connect(client, radicale)
    assert answer.status_code == 303 and answer.headers["Location"] == "/account"
    (grant,) = caldav_app.extensions["gateway"].grants.list(uid)
    assert grant.provider == "caldav" and grant.scopes == ("caldav:free-busy",)
    room = hosted_room(caldav_app, uid, grant.id)
    found = room_answer(caldav_app, room)
    assert found.status == "ok"
    office = tuple(b for b in EXPECTED if b[0].hour < 18)  # the room's hours: 08:00-18:00
    assert len(office) == 2 and tuple((b.start, b.end) for b in found.busy) == office
    api = client.get("/account").get_data(as_text=True)
    assert "Consent given: “Show when your room is free”" in api  # the flashed message
    stored = redis_contents()
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("radicale"))
    for text in (*PLANTED, PASSWORD):
        assert text not in repr(found) and text not in api
        assert text not in stored, text
        assert text not in logged, text


def test_a_changed_password_makes_the_room_need_reconnecting(
    caldav_app: Flask, host: tuple[FlaskClient, str], radicale: Radicale
) -> None:
    seed(radicale, "alice", "Room calendar", EVENTS[:1])
    client, uid = host
    assert connect(client, radicale).status_code == 303
    (grant,) = caldav_app.extensions["gateway"].grants.list(uid)
    room = hosted_room(caldav_app, uid, grant.id)
    radicale.set_password("alice", "changed-at-the-server")
    assert room_answer(caldav_app, room).status == "needs_reconnect"
    (ended,) = caldav_app.extensions["gateway"].grants.list(uid)
    assert ended.status != "active" and "Connect the calendar again" in ended.reason


def test_a_server_that_went_down_makes_the_room_unknown(
    caldav_app: Flask, host: tuple[FlaskClient, str], tmp_path: Path, ca: trustme.CA
) -> None:
    client, uid = host
    with start_radicale(tmp_path / "brief", ca, {"alice": PASSWORD}) as server:
        seed(server, "alice", "Room calendar", EVENTS[:1])
        assert connect(client, server).status_code == 303
    (grant,) = caldav_app.extensions["gateway"].grants.list(uid)
    room = hosted_room(caldav_app, uid, grant.id)
    assert room_answer(caldav_app, room).status == "unknown"


def test_a_slow_server_is_unknown_within_the_deadline(
    caldav_app: Flask, host: tuple[FlaskClient, str], radicale: Radicale
) -> None:
    seed(radicale, "alice", "Room calendar", EVENTS[:1])
    client, uid = host
    assert connect(client, radicale).status_code == 303
    (grant,) = caldav_app.extensions["gateway"].grants.list(uid)
    room = hosted_room(caldav_app, uid, grant.id)
    radicale.behaviour.delay_seconds = 8.0  # past the 3 s deadline of this gateway
    assert room_answer(caldav_app, room).status == "unknown"


def test_attempts_are_limited_per_person(
    host: tuple[FlaskClient, str], radicale: Radicale, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consent_attempts, "ATTEMPTS_PER_PERSON", 2)
    client, _ = host
    assert connect(client, radicale, "wrong-1").status_code == 400
    assert connect(client, radicale, "wrong-2").status_code == 400
    calls = len(radicale.behaviour.methods)
    limited = connect(client, radicale)
    assert limited.status_code == 429 and "Too many attempts" in limited.get_data(as_text=True)
    assert len(radicale.behaviour.methods) == calls  # the server was not asked


def test_failures_are_limited_per_target_host(
    caldav_app: Flask,
    emulator: Any,
    radicale: Radicale,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consent_attempts, "FAILURES_PER_HOST", 2)
    browsers = []
    for provider, account in (
        ("google", "alice@example.com"),
        ("google", "bob@example.com"),
        ("microsoft", "carol@contoso.example"),
    ):
        browser = SignIn(caldav_app.test_client(), emulator)
        browser.complete(provider, account)
        browsers.append(browser)
    assert connect(browsers[0].client, radicale, "wrong-1").status_code == 400
    assert connect(browsers[1].client, radicale, "wrong-2").status_code == 400
    assert connect(browsers[2].client, radicale).status_code == 429
    for browser in browsers:
        browser.http.close()


def test_withdrawing_deletes_the_sealed_password_and_says_to_revoke_it_there(
    caldav_app: Flask,
    host: tuple[FlaskClient, str],
    radicale: Radicale,
    redis_client: Any,
) -> None:
    client, uid = host
    page = client.get(PAGE, query_string={"provider": "caldav"}).get_data(as_text=True)
    token = csrf(page)
    assert connect(client, radicale).status_code == 303
    (grant,) = caldav_app.extensions["gateway"].grants.list(uid)
    grants = caldav_app.extensions["gateway"].grants
    assert grants.tokens_if_readable(uid, grant.id) is not None
    answer = client.post(f"{PAGE}/withdraw", data={"csrf_token": token, "provider": "caldav"})
    assert answer.status_code == 303
    assert grants.tokens_if_readable(uid, grant.id) is None
    account = client.get("/account").get_data(as_text=True)
    assert "revoke the app password at your calendar provider" in account


def test_an_erasure_deletes_the_sealed_password_and_the_export_holds_none(
    caldav_app: Flask,
    host: tuple[FlaskClient, str],
    radicale: Radicale,
    redis_contents: Callable[[], str],
) -> None:
    seed(radicale, "alice", "Room calendar", EVENTS[:1])
    client, uid = host
    assert connect(client, radicale).status_code == 303
    (grant,) = caldav_app.extensions["gateway"].grants.list(uid)
    room = hosted_room(caldav_app, uid, grant.id)
    assert room_answer(caldav_app, room).status == "ok"
    exported = client.get("/v1/me/export").get_data(as_text=True)
    assert PASSWORD not in exported
    token = csrf(client.get(PAGE, query_string={"provider": "caldav"}).get_data(as_text=True))
    erased = client.delete("/v1/me", headers={"X-CSRFToken": token})
    assert erased.status_code == 200 and erased.get_json()["deleted"]["grants"] == 1
    assert caldav_app.extensions["gateway"].grants.tokens_if_readable(uid, grant.id) is None
    stored = redis_contents()
    assert PASSWORD not in stored and radicale.url not in stored


def test_one_members_dead_server_does_not_open_the_breaker_for_every_caldav_room(
    caldav_app: Flask,
    host: tuple[FlaskClient, str],
    emulator: Any,
    radicale: Radicale,
    tmp_path: Path,
    ca: trustme.CA,
) -> None:
    """The breaker is per provider; CalDAV servers are each member's own. Failing calls to
    one server, many more than the breaker's threshold, leave another's room readable."""
    seed(radicale, "alice", "Room calendar", EVENTS[:1])
    client, uid = host
    assert connect(client, radicale).status_code == 303
    (good,) = caldav_app.extensions["gateway"].grants.list(uid)
    good_room = hosted_room(caldav_app, uid, good.id, "good-room")
    other = SignIn(caldav_app.test_client(), emulator)
    other.complete("google", "bob@example.com")
    other_uid = other.client.get("/v1/me").get_json()["id"]
    with start_radicale(tmp_path / "doomed", ca, {"alice": PASSWORD}) as doomed:
        seed(doomed, "alice", "Room calendar", EVENTS[:1])
        assert connect(other.client, doomed).status_code == 303
    (bad,) = caldav_app.extensions["gateway"].grants.list(other_uid)
    bad_room = hosted_room(caldav_app, other_uid, bad.id, "bad-room")
    for _ in range(8):  # past GATEWAY_BREAKER_FAILURES (5)
        assert room_answer(caldav_app, bad_room).status == "unknown"
    assert room_answer(caldav_app, good_room).status == "ok"
    other.http.close()

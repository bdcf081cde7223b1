"""A host connects a calendar by its secret ICS address on the consent page; its room's busy
times come from a real HTTPS feed server (tests/connectors/ics_server.py) through
POST /v1/freebusy, and no planted text nor the address reaches an answer, a log line or
Redis. Revocation, erasure and the export cover an ICS room as they do a CalDAV one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from flask import Flask
from flask.testing import FlaskClient

from gateway.services import consent_attempts
from tests.conftest import SignIn
from tests.connectors.ics_events import EXPECTED, FEED, PLANTED_IN_FEED
from tests.connectors.ics_server import SECRET_PATH, FeedServer, publish_feed
from tests.gateway.typed_credential_support import (
    PAGE,
    bound_room,
    csrf,
    enabled,
    send_consent_form,
    signed_in_host,
)
from tests.hosts import OFFICE_HOURS
from tests.security.support import api_client, bearer

SECRET = SECRET_PATH.split("/")[3]  # the random part of the address
ASKED = {"timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def day_after(days: int) -> dict[str, str]:
    """A day counted from today (the feed's remembered span is around today)."""
    first = TODAY + timedelta(days=days)
    return {
        "timeMin": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timeMax": (first + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_path(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "feed-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def server(ca: trustme.CA, ca_path: str) -> Iterator[FeedServer]:
    with publish_feed(ca, ca_path, FEED) as published:
        yield published


@pytest.fixture
def ics_app(
    make_env: Callable[..., dict[str, str]],
    build_gateway: Callable[[dict[str, str]], Flask],
    emulator: Any,
    ca: trustme.CA,
    tmp_path: Path,
) -> Flask:
    settings = enabled("ics", tmp_path, emulator, ca)
    return build_gateway(make_env(**settings, GATEWAY_FREEBUSY_DEADLINE_SECONDS="3"))


@pytest.fixture
def host(ics_app: Flask, emulator: Any) -> Iterator[tuple[FlaskClient, str]]:
    """A signed-in member (through the emulator) and their user id."""
    with signed_in_host(ics_app, emulator) as signed_in:
        yield signed_in


def connect(client: FlaskClient, address: str) -> Any:
    return send_consent_form(client, "ics", feed_url=address)


def hosted_room(app: Flask, uid: str, gid: str, room_id: str = "ics-room") -> str:
    return bound_room(app, uid, gid, room_id, "ICS room")


def asked(app: Flask, room_id: str, window: dict[str, str] = ASKED) -> Any:
    """The room as the booking platform sees it: POST /v1/freebusy with a Bearer secret."""
    secret = api_client(app, "booking", {"frontend"})
    answer = app.test_client().post(
        "/v1/freebusy", json={"rooms": [room_id], **window}, headers=bearer(secret)
    )
    assert answer.status_code == 200, answer.get_json()
    return answer


def status_of(app: Flask, room_id: str, window: dict[str, str] = ASKED) -> str:
    return str(asked(app, room_id, window).get_json()["rooms"][room_id]["status"])


def connected_room(app: Flask, client: FlaskClient, uid: str, server: FeedServer) -> str:
    assert connect(client, server.url).status_code == 303
    (grant,) = app.extensions["gateway"].grants.list(uid)
    return hosted_room(app, uid, grant.id)


def test_the_consent_page_asks_for_the_feed_address(host: tuple[FlaskClient, str]) -> None:
    client, _ = host
    page = client.get(PAGE, query_string={"provider": "ics"}).get_data(as_text=True)
    assert 'name="feed_url"' in page and 'type="url"' in page and 'name="csrf_token"' in page
    assert 'name="provider" value="ics"' in page and 'action="/consent/room-availability"' in page
    assert "secret address in iCal format" in page and "app-password-note" not in page
    assert 'name="password"' not in page


def test_a_post_without_the_csrf_token_is_refused(
    ics_app: Flask, host: tuple[FlaskClient, str], server: FeedServer
) -> None:
    client, uid = host
    answer = client.post(PAGE, data={"provider": "ics", "feed_url": server.url})
    assert answer.status_code == 400
    assert ics_app.extensions["gateway"].grants.list(uid) == []
    assert server.publisher.answered == {}  # the address was never fetched


def test_a_wrong_address_keeps_nothing_says_so_and_is_not_shown_back(
    ics_app: Flask,
    host: tuple[FlaskClient, str],
    server: FeedServer,
    redis_contents: Callable[[], str],
) -> None:
    client, uid = host
    wrong = server.url.replace(SECRET, "private-mistyped0000")
    answer = connect(client, wrong)
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "no calendar feed at that address" in page
    assert "private-mistyped0000" not in page  # a secret field is never shown back
    assert ics_app.extensions["gateway"].grants.list(uid) == []
    assert "private-mistyped0000" not in redis_contents()
    server.publisher.publish(b"<html>Sign in to see this calendar</html>", '"html"')
    refused = connect(client, server.url)
    assert refused.status_code == 400 and "iCalendar (.ics) feed" in refused.get_data(as_text=True)
    assert SECRET not in refused.get_data(as_text=True)


def test_a_connected_feed_answers_free_busy_with_busy_times_only(
    ics_app: Flask,
    host: tuple[FlaskClient, str],
    server: FeedServer,
    redis_contents: Callable[[], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, uid = host
    answer = connect(client, server.url.replace("https://", "webcal://"))
    assert answer.status_code == 303 and answer.headers["Location"] == "/account"
    (grant,) = ics_app.extensions["gateway"].grants.list(uid)
    assert grant.provider == "ics" and grant.scopes == ("ics:feed",)
    room = hosted_room(ics_app, uid, grant.id)
    found = asked(ics_app, room)
    body = found.get_json()["rooms"][room]
    assert body["status"] == "ok"
    office = [b for b in EXPECTED if b[0].hour < 18]  # the room's hours: 08:00-18:00
    assert len(office) == 2
    assert [(b["start"], b["end"]) for b in body["busy"]] == [
        (s.strftime("%Y-%m-%dT%H:%M:%SZ"), e.strftime("%Y-%m-%dT%H:%M:%SZ")) for s, e in office
    ]
    account = client.get("/account").get_data(as_text=True)
    exported = client.get("/v1/me/export").get_data(as_text=True)
    stored = redis_contents()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (*PLANTED_IN_FEED, SECRET, SECRET_PATH):
        for where, shown in (
            ("answer", found.get_data(as_text=True)),
            ("account", account),
            ("export", exported),
            ("redis", stored),
            ("log", logged),
        ):
            assert text not in shown, (text, where)


def test_the_connect_page_does_not_send_a_feed_host_to_another_consent(
    ics_app: Flask, host: tuple[FlaskClient, str], server: FeedServer
) -> None:
    """A feed address is one calendar: no calendar-choice consent would show another, so
    the page says so instead of pointing at a consent that cannot help."""
    client, uid = host
    assert connect(client, server.url).status_code == 303
    ics_app.extensions["gateway"].rooms.create(
        {
            "id": "unbound-feed-room",
            "name": "Feed room",
            "time_zone": "UTC",
            "hours": OFFICE_HOURS,
            "host": uid,
            "visibility": ["frontend"],
        }
    )
    page = client.get("/rooms/connect").get_data(as_text=True)
    assert "Connect to Feed room" in page
    assert "the only calendar this connection can read" in page
    assert "Choose which calendar backs a room" not in page


def test_the_feed_is_downloaded_once_while_unchanged(
    ics_app: Flask, host: tuple[FlaskClient, str], server: FeedServer
) -> None:
    client, uid = host
    room = connected_room(ics_app, client, uid, server)
    assert status_of(ics_app, room, day_after(1)) == "ok"
    assert server.publisher.count(200) == 2  # connect, then the first free/busy
    assert status_of(ics_app, room, day_after(2)) == "ok"  # not in the gateway's cache
    assert server.publisher.count(200) == 2 and server.publisher.count(304) == 1


def test_a_reset_address_makes_the_room_need_reconnecting(
    ics_app: Flask, host: tuple[FlaskClient, str], server: FeedServer
) -> None:
    client, uid = host
    room = connected_room(ics_app, client, uid, server)
    server.publisher.status = 404
    assert status_of(ics_app, room) == "needs_reconnect"
    (ended,) = ics_app.extensions["gateway"].grants.list(uid)
    assert ended.status != "active" and "Connect the calendar again" in ended.reason


def test_a_feed_server_that_went_down_makes_the_room_unknown(
    ics_app: Flask, host: tuple[FlaskClient, str], ca: trustme.CA, ca_path: str
) -> None:
    client, uid = host
    with publish_feed(ca, ca_path, FEED) as brief:
        assert connect(client, brief.url).status_code == 303
    (grant,) = ics_app.extensions["gateway"].grants.list(uid)
    room = hosted_room(ics_app, uid, grant.id)
    assert status_of(ics_app, room) == "unknown"


def test_a_slow_feed_is_unknown_within_the_deadline(
    ics_app: Flask, host: tuple[FlaskClient, str], server: FeedServer
) -> None:
    client, uid = host
    room = connected_room(ics_app, client, uid, server)
    server.publisher.delay_seconds = 8.0  # past the 3 s deadline of this gateway
    assert status_of(ics_app, room) == "unknown"


def test_a_feed_answering_garbage_is_unknown_not_free(
    ics_app: Flask, host: tuple[FlaskClient, str], server: FeedServer
) -> None:
    client, uid = host
    room = connected_room(ics_app, client, uid, server)
    server.publisher.publish(b"BEGIN:VCALENDAR\r\nthis is not\r\n", '"broken"')
    assert status_of(ics_app, room) == "unknown"


def test_attempts_are_limited_per_person(
    host: tuple[FlaskClient, str], server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consent_attempts, "ATTEMPTS_PER_PERSON", 2)
    client, _ = host
    assert connect(client, server.origin + "/guess-1.ics").status_code == 400
    assert connect(client, server.origin + "/guess-2.ics").status_code == 400
    calls = sum(server.publisher.answered.values())
    limited = connect(client, server.url)
    assert limited.status_code == 429 and "Too many attempts" in limited.get_data(as_text=True)
    assert sum(server.publisher.answered.values()) == calls  # the server was not asked


def test_failures_are_limited_per_target_host(
    ics_app: Flask, emulator: Any, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consent_attempts, "FAILURES_PER_HOST", 2)
    browsers = []
    for provider, account in (
        ("google", "alice@example.com"),
        ("google", "bob@example.com"),
        ("microsoft", "carol@contoso.example"),
    ):
        browser = SignIn(ics_app.test_client(), emulator)
        browser.complete(provider, account)
        browsers.append(browser)
    assert connect(browsers[0].client, server.origin + "/guess-1.ics").status_code == 400
    assert connect(browsers[1].client, server.origin + "/guess-2.ics").status_code == 400
    assert connect(browsers[2].client, server.url).status_code == 429
    for browser in browsers:
        browser.http.close()


def test_withdrawing_deletes_the_sealed_address_and_says_to_reset_it_there(
    ics_app: Flask, host: tuple[FlaskClient, str], server: FeedServer
) -> None:
    client, uid = host
    room = connected_room(ics_app, client, uid, server)
    assert status_of(ics_app, room) == "ok"
    (grant,) = ics_app.extensions["gateway"].grants.list(uid)
    grants = ics_app.extensions["gateway"].grants
    assert grants.tokens_if_readable(uid, grant.id) is not None
    token = csrf(client.get(PAGE, query_string={"provider": "ics"}).get_data(as_text=True))
    answer = client.post(f"{PAGE}/withdraw", data={"csrf_token": token, "provider": "ics"})
    assert answer.status_code == 303
    assert grants.tokens_if_readable(uid, grant.id) is None
    assert status_of(ics_app, room) == "unbound"
    account = client.get("/account").get_data(as_text=True)
    assert "secret address at your calendar provider, so that the old one stops" in account
    connector = ics_app.extensions["gateway"].freebusy.apis["ics"]
    assert len(connector.memo) == 0  # what this process remembered of the feed is gone


def test_an_erasure_deletes_the_sealed_address_and_the_export_holds_none(
    ics_app: Flask,
    host: tuple[FlaskClient, str],
    server: FeedServer,
    redis_contents: Callable[[], str],
) -> None:
    client, uid = host
    room = connected_room(ics_app, client, uid, server)
    assert status_of(ics_app, room) == "ok"
    exported = client.get("/v1/me/export").get_json()
    assert SECRET not in str(exported)
    assert any(r["status"] == "ok" for r in exported["rooms"]["hosted"]), exported["rooms"]
    (grant,) = ics_app.extensions["gateway"].grants.list(uid)
    token = csrf(client.get(PAGE, query_string={"provider": "ics"}).get_data(as_text=True))
    erased = client.delete("/v1/me", headers={"X-CSRFToken": token})
    assert erased.status_code == 200 and erased.get_json()["deleted"]["grants"] == 1
    assert ics_app.extensions["gateway"].grants.tokens_if_readable(uid, grant.id) is None
    stored = redis_contents()
    assert SECRET not in stored and server.url not in stored


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("https://169.254.169.254/latest/calendar.ics", "a cloud metadata address"),
        ("https://10.1.2.3/calendar.ics", "a private address"),
    ],
)
def test_an_address_inside_the_deployment_is_refused_on_the_page(
    ics_app: Flask, host: tuple[FlaskClient, str], address: str, said: str
) -> None:
    client, uid = host
    answer = connect(client, address)
    assert answer.status_code == 400 and said in answer.get_data(as_text=True)
    assert ics_app.extensions["gateway"].grants.list(uid) == []

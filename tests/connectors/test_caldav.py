"""The CalDAV connector against a real Radicale over TLS (tests/connectors/radicale_server.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trustme

from connectors.caldav import CalDavConnector
from connectors.errors import AccessRefused, AuthorizationDenied, GrantInvalid
from connectors.ical_busy import busy_from_events, parse_free_busy
from connectors.outbound_guard import AddressRefused
from connectors.values import TokenSet
from tests.connectors.caldav_events import (
    ALL_DAY_EVENT,
    DAY,
    EVENTS,
    EXPECTED,
    PLANTED,
    utc,
)
from tests.connectors.radicale_server import Radicale, seed, start_radicale, vcalendar

PASSWORD = "app-pw-1"  # pragma: allowlist secret
WRONG = "wrong"  # pragma: allowlist secret
SCOPES = ("caldav:free-busy",)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def radicale(tmp_path: Path, ca: trustme.CA) -> Iterator[Radicale]:
    with start_radicale(tmp_path, ca, {"alice": PASSWORD}) as server:
        yield server


def connector_for(server: Radicale) -> CalDavConnector:
    return CalDavConnector(allowlist="127.0.0.1/32", ca_bundle=server.ca_path)


def connected(server: Radicale) -> tuple[CalDavConnector, TokenSet]:
    connector = connector_for(server)
    identity = connector.connect(
        {"server_url": server.url, "username": "alice", "password": PASSWORD}, SCOPES
    )
    assert identity.tokens is not None
    return connector, identity.tokens


def test_a_right_password_finds_the_principal_and_its_calendars(radicale: Radicale) -> None:
    url = seed(radicale, "alice", "Room 1", EVENTS[:1])
    connector = connector_for(radicale)
    identity = connector.connect(
        {"server_url": radicale.url, "username": "alice", "password": PASSWORD}, SCOPES
    )
    assert identity.subject == f"{radicale.url}alice/"
    assert identity.granted_scopes == frozenset(SCOPES)
    assert identity.tokens is not None and identity.tokens.refresh_token
    assert PASSWORD not in repr(identity)  # the credential stays out of reprs
    calendars = connector.list_calendars(str(identity.tokens.access_token))
    assert [(c.id, c.name, c.primary) for c in calendars] == [(url, "Room 1", True)]


def test_the_well_known_address_is_followed(radicale: Radicale) -> None:
    connector = connector_for(radicale)
    identity = connector.connect(
        {
            "server_url": f"{radicale.url}.well-known/caldav",
            "username": "alice",
            "password": PASSWORD,
        },
        SCOPES,
    )
    assert identity.subject == f"{radicale.url}alice/"


def test_a_wrong_password_is_a_clear_refusal(radicale: Radicale) -> None:
    with pytest.raises(AuthorizationDenied) as refused:
        connector_for(radicale).connect(
            {"server_url": radicale.url, "username": "alice", "password": WRONG}, SCOPES
        )
    assert refused.value.code == "invalid_credentials"
    assert "user name and app password" in refused.value.message


def test_missing_fields_are_refused_before_any_request(radicale: Radicale) -> None:
    with pytest.raises(AuthorizationDenied):
        connector_for(radicale).connect({"server_url": radicale.url, "username": "alice"}, SCOPES)
    assert radicale.behaviour.methods == []


def test_a_loopback_server_is_refused_without_the_allowlist(radicale: Radicale) -> None:
    connector = CalDavConnector(ca_bundle=radicale.ca_path)
    with pytest.raises(AddressRefused):
        connector.connect(
            {"server_url": radicale.url, "username": "alice", "password": PASSWORD}, SCOPES
        )
    assert radicale.behaviour.methods == []  # the password never left


def test_free_busy_query_gives_the_busy_times_and_nothing_else(radicale: Radicale) -> None:
    url = seed(radicale, "alice", "Room 1", EVENTS)
    connector, tokens = connected(radicale)
    answer = connector.free_busy(str(tokens.access_token), [url], *DAY)
    assert answer[url].error is None
    assert answer[url].busy == EXPECTED
    assert not any(p in repr(answer) for p in PLANTED)
    reports = [b for b in radicale.behaviour.bodies if b"free-busy-query" in b]
    assert reports and not any(b"calendar-query" in b for b in radicale.behaviour.bodies)


def test_without_free_busy_query_the_events_give_the_same_busy_times(radicale: Radicale) -> None:
    url = seed(radicale, "alice", "Room 1", EVENTS)
    connector, tokens = connected(radicale)
    radicale.behaviour.refuse_free_busy = True
    answer = connector.free_busy(str(tokens.access_token), [url], *DAY)
    assert answer[url].error is None
    assert answer[url].busy == EXPECTED
    assert not any(p in repr(answer) for p in PLANTED)
    queries = [b for b in radicale.behaviour.bodies if b"calendar-query" in b]
    assert len(queries) == 1
    assert b'<C:prop name="DTSTART"/>' in queries[0] and b"SUMMARY" not in queries[0]


def test_an_all_day_event_fills_the_day(radicale: Radicale) -> None:
    url = seed(radicale, "alice", "Room 1", [ALL_DAY_EVENT])
    connector, tokens = connected(radicale)
    for refuse in (False, True):
        radicale.behaviour.refuse_free_busy = refuse
        answer = connector.free_busy(str(tokens.access_token), [url], *DAY)
        assert answer[url].busy == (DAY,)


def test_a_changed_password_ends_the_grant(radicale: Radicale) -> None:
    url = seed(radicale, "alice", "Room 1", EVENTS[:1])
    connector, tokens = connected(radicale)
    radicale.set_password("alice", "a-new-password")
    with pytest.raises(AccessRefused):
        connector.free_busy(str(tokens.access_token), [url], *DAY)
    with pytest.raises(GrantInvalid):
        connector.refresh(tokens, SCOPES)


def test_refresh_checks_the_password_and_keeps_the_credential(radicale: Radicale) -> None:
    connector, tokens = connected(radicale)
    fresh = connector.refresh(tokens, SCOPES)
    assert fresh.refresh_token == tokens.refresh_token
    assert fresh.access_token == tokens.refresh_token
    assert fresh.expires_at and fresh.granted_scopes == tokens.granted_scopes


def test_a_server_that_is_down_is_unavailable(radicale: Radicale) -> None:
    connector, tokens = connected(radicale)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = str(tokens.access_token).replace(f":{radicale.port}/", f":{closed}/")
    calendars = [f"https://127.0.0.1:{closed}/alice/x/", f"https://127.0.0.1:{closed}/alice/y/"]
    # each calendar unknown, not a ProviderUnavailable: the gateway's breaker is per
    # provider, and one member's dead server must not open it for every CalDAV grant
    answer = connector.free_busy(down, calendars, *DAY)
    assert {c: a.error for c, a in answer.items()} == dict.fromkeys(
        calendars, "provider_unavailable"
    )
    assert all(a.busy == () for a in answer.values())
    checked = connector.refresh(TokenSet(frozenset(SCOPES), refresh_token=down), SCOPES)
    assert checked.access_token == down  # kept, and looked at again within minutes
    assert checked.expires_at is not None and checked.expires_at < tokens.expires_at


def test_a_slow_server_is_cut_off(radicale: Radicale) -> None:
    url = seed(radicale, "alice", "Room 1", EVENTS[:1])
    connector, tokens = connected(radicale)
    connector.call_seconds = 0.5
    radicale.behaviour.delay_seconds = 2.0
    answer = connector.free_busy(str(tokens.access_token), [url], *DAY)
    assert answer[url].error == "provider_unavailable" and answer[url].busy == ()


def test_floating_times_are_read_in_the_calendars_zone() -> None:
    text = vcalendar(
        "UID:f\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261125T100000\r\nDTEND:20261125T110000"
    )
    busy = busy_from_events([text], *DAY, floating=ZoneInfo("Europe/Berlin"))
    assert busy == ((utc(9), utc(10)),)


def test_older_radicales_one_vfreebusy_per_interval() -> None:
    answer = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        b"BEGIN:VFREEBUSY\r\nDTSTART:20261125T080000Z\r\nDTEND:20261125T090000Z\r\nEND:VFREEBUSY\r\n"
        b"BEGIN:VFREEBUSY\r\nDTSTART:20261125T100000Z\r\nDTEND:20261125T103000Z\r\nEND:VFREEBUSY\r\n"
        b"END:VCALENDAR\r\n"
    )
    assert parse_free_busy(answer, *DAY) == ((utc(8), utc(9)), (utc(10), utc(10, 30)))
    empty = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VFREEBUSY\r\n"
        b"DTSTART:20261125T000000Z\r\nDTEND:20261126T000000Z\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    assert parse_free_busy(empty, *DAY) == ()
    free = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VFREEBUSY\r\n"
        b"DTSTART:20261125T000000Z\r\nDTEND:20261126T000000Z\r\n"
        b"FREEBUSY;FBTYPE=FREE:20261125T010000Z/PT1H\r\n"
        b"FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261125T020000Z/20261125T030000Z,20261125T040000Z/PT30M\r\n"
        b"END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    assert parse_free_busy(free, *DAY) == ((utc(2), utc(3)), (utc(4), utc(4, 30)))


def test_many_calendars_of_a_slowish_server_share_one_calls_time(radicale: Radicale) -> None:
    urls = [seed(radicale, "alice", f"Room {n}", EVENTS[:1]) for n in range(4)]
    connector, tokens = connected(radicale)
    connector.call_seconds = 1.0
    radicale.behaviour.delay_seconds = 0.6  # each answer in time, four of them are not
    answer = connector.free_busy(str(tokens.access_token), urls, *DAY)
    assert answer[urls[0]].error is None and answer[urls[0]].busy == EXPECTED[:1]
    assert answer[urls[-1]].error == "provider_slow"

"""The ICS feed connector against a real HTTPS server publishing a feed at a secret address
(tests/connectors/ics_server.py): busy times only, conditional GET, a reset address, a
dead or slow server, and the outbound guard's refusals."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import trustme

from connectors.errors import AccessRefused, AuthorizationDenied, GrantInvalid
from connectors.ics import IcsConnector
from connectors.ics_feed import FEED_BYTES, typed_address
from connectors.outbound_guard import AddressRefused
from connectors.values import CalendarBusy, TokenSet
from tests.connectors.ics_events import (
    ALL_DAY_FEED,
    DAY,
    EXPECTED,
    FEED,
    PLANTED_IN_FEED,
    feed,
    utc,
)
from tests.connectors.ics_server import SECRET_PATH, FeedServer, publish_feed

SCOPES = ("ics:feed",)
GRANT = "grant-1"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_path(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def server(ca: trustme.CA, ca_path: str) -> Iterator[FeedServer]:
    with publish_feed(ca, ca_path, FEED) as published:
        yield published


def connector_for(server: FeedServer) -> IcsConnector:
    return IcsConnector(allowlist="127.0.0.1/32", ca_bundle=server.ca_path)


def connected(server: FeedServer) -> tuple[IcsConnector, TokenSet]:
    connector = connector_for(server)
    identity = connector.connect({"feed_url": server.url}, SCOPES)
    assert identity.tokens is not None
    return connector, identity.tokens


def busy_of(connector: IcsConnector, tokens: TokenSet, grant: str | None = GRANT) -> CalendarBusy:
    answer = connector.free_busy(str(tokens.access_token), ["primary"], *DAY, grant)
    return answer["primary"]


def test_a_feed_connects_and_its_address_stays_secret(server: FeedServer) -> None:
    connector = connector_for(server)
    identity = connector.connect({"feed_url": server.url}, SCOPES)
    assert identity.issuer == server.origin and identity.subject.startswith("sha256:")
    assert identity.tokens is not None and identity.tokens.refresh_token == server.url
    assert identity.granted_scopes == frozenset(SCOPES)
    for shown in (
        repr(identity),
        identity.subject,
        identity.issuer,
        repr(typed_address(server.url)),
    ):
        assert "private-" not in shown and SECRET_PATH not in shown
    calendars = connector.list_calendars(str(identity.tokens.access_token))
    assert [(c.id, c.primary) for c in calendars] == [("primary", True)]
    assert SECRET_PATH not in calendars[0].name
    assert server.publisher.count(200) == 1  # fetched once, at once


def test_a_webcal_address_is_read_as_https(server: FeedServer) -> None:
    webcal = server.url.replace("https://", "webcal://")
    identity = connector_for(server).connect({"feed_url": webcal}, SCOPES)
    assert identity.tokens is not None and identity.tokens.refresh_token == server.url


def test_the_feed_gives_the_busy_times_and_nothing_else(server: FeedServer) -> None:
    connector, tokens = connected(server)
    found = busy_of(connector, tokens)
    assert found.error is None and found.busy == EXPECTED
    remembered = repr(connector.memo._entries)
    for planted in PLANTED_IN_FEED:
        assert planted not in repr(found) and planted not in remembered


def test_an_all_day_event_fills_the_day(server: FeedServer) -> None:
    connector, tokens = connected(server)
    server.publisher.publish(ALL_DAY_FEED, etag='"v2"')
    assert busy_of(connector, tokens).busy == (DAY,)


def test_floating_times_are_read_in_the_feeds_zone(server: FeedServer) -> None:
    connector, tokens = connected(server)
    floating = (
        "UID:f\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261125T100000\r\nDTEND:20261125T110000"
    )
    server.publisher.publish(feed(floating, header="X-WR-TIMEZONE:Europe/Berlin\r\n"), '"v2"')
    assert busy_of(connector, tokens).busy == ((utc(9), utc(10)),)


def test_an_unchanged_feed_is_not_downloaded_again(server: FeedServer) -> None:
    connector, tokens = connected(server)
    first = busy_of(connector, tokens)
    again = busy_of(connector, tokens)
    assert again == first and first.busy == EXPECTED
    assert server.publisher.count(200) == 2 and server.publisher.count(304) == 1
    assert server.publisher.conditions[-1] == ('"v1"', "Wed, 18 Nov 2026 10:00:00 GMT")
    server.publisher.publish(ALL_DAY_FEED, etag='"v2"')  # changed: a 200 with the new times
    assert busy_of(connector, tokens).busy == (DAY,)
    assert server.publisher.count(200) == 3


def test_last_modified_alone_is_honoured(server: FeedServer) -> None:
    server.publisher.etag = None
    connector, tokens = connected(server)
    busy_of(connector, tokens)
    assert busy_of(connector, tokens).busy == EXPECTED
    assert server.publisher.conditions[-1] == (None, "Wed, 18 Nov 2026 10:00:00 GMT")
    assert server.publisher.count(304) == 1


def test_an_ended_grant_is_forgotten_and_each_grant_remembers_its_own(server: FeedServer) -> None:
    connector, tokens = connected(server)
    busy_of(connector, tokens)
    connector.forget_grant(GRANT)
    assert len(connector.memo) == 0
    busy_of(connector, tokens)
    busy_of(connector, tokens, grant=None)  # no grant id: nothing remembered, nothing reused
    busy_of(connector, tokens, grant=None)
    assert server.publisher.count(304) == 0 and server.publisher.count(200) == 5
    busy_of(connector, tokens, grant="grant-2")
    busy_of(connector, tokens, grant="grant-2")  # its own memory, not grant-1's
    assert server.publisher.count(304) == 1 and server.publisher.count(200) == 6


def test_a_range_far_from_today_is_downloaded_whole(server: FeedServer) -> None:
    connector, tokens = connected(server)
    busy_of(connector, tokens)
    later = (datetime.now(UTC) + timedelta(days=400)).replace(microsecond=0)
    answer = connector.free_busy(
        str(tokens.access_token), ["primary"], later, later + timedelta(1), GRANT
    )
    assert answer["primary"].error is None
    assert server.publisher.count(304) == 0 and server.publisher.count(200) == 3


def test_a_reset_address_ends_the_grant(server: FeedServer) -> None:
    connector, tokens = connected(server)
    busy_of(connector, tokens)
    for status in (401, 403, 404, 410):
        server.publisher.status = status
        with pytest.raises(AccessRefused):
            busy_of(connector, tokens)
        with pytest.raises(GrantInvalid):
            connector.refresh(tokens, SCOPES)


def test_refresh_looks_at_the_feed_and_keeps_the_address(server: FeedServer) -> None:
    connector, tokens = connected(server)
    busy_of(connector, tokens)
    fresh = connector.refresh(tokens, SCOPES)
    assert fresh.access_token == fresh.refresh_token == server.url
    assert fresh.expires_at and fresh.granted_scopes == tokens.granted_scopes
    assert server.publisher.count(304) == 1  # conditional: the feed was not downloaded again


def test_a_wrong_address_is_a_clear_refusal(server: FeedServer) -> None:
    connector = connector_for(server)
    with pytest.raises(AuthorizationDenied) as refused:
        connector.connect({"feed_url": server.origin + "/calendar/ical/guessed/basic.ics"}, SCOPES)
    assert refused.value.code == "no_feed" and "404" in refused.value.message
    with pytest.raises(AuthorizationDenied) as empty:
        connector.connect({"feed_url": "  "}, SCOPES)
    assert empty.value.code == "missing_field"


def test_a_page_that_is_not_a_calendar_is_refused_and_unreadable_later(server: FeedServer) -> None:
    connector, tokens = connected(server)
    server.publisher.publish(b"<!doctype html><html><body>Sign in</body></html>", '"html"')
    server.publisher.content_type = "text/html"
    with pytest.raises(AuthorizationDenied) as refused:
        connector.connect({"feed_url": server.url}, SCOPES)
    assert refused.value.code == "not_a_calendar"
    found = busy_of(connector, tokens)
    assert found.error == "malformed" and found.busy == ()


def test_a_feed_past_the_size_cap_is_refused(server: FeedServer) -> None:
    padding = "X-PADDING:" + "x" * 70 + "\r\n"
    big = FEED.replace(
        "END:VCALENDAR", padding * (FEED_BYTES // len(padding) + 1) + "END:VCALENDAR"
    )
    server.publisher.publish(big, '"big"')
    with pytest.raises(AuthorizationDenied) as refused:
        connector_for(server).connect({"feed_url": server.url}, SCOPES)
    assert refused.value.code == "feed_too_large" and "10 MB" in refused.value.message


def test_a_server_that_is_down_is_unknown_not_free(server: FeedServer) -> None:
    connector, tokens = connected(server)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = server.url.replace(f":{server.port}/", f":{closed}/")
    answer = connector.free_busy(down, ["primary"], *DAY, GRANT)
    assert answer["primary"].error == "provider_unavailable" and answer["primary"].busy == ()
    checked = connector.refresh(TokenSet(frozenset(SCOPES), refresh_token=down), SCOPES)
    assert checked.access_token == down  # kept, and looked at again within minutes
    assert checked.expires_at is not None and tokens.expires_at is not None
    assert checked.expires_at < tokens.expires_at


def test_a_slow_server_is_cut_off(server: FeedServer) -> None:
    connector, tokens = connected(server)
    connector.call_seconds = 0.5
    server.publisher.delay_seconds = 2.0
    started = datetime.now(UTC)
    found = busy_of(connector, tokens)
    assert found.error == "provider_unavailable" and found.busy == ()
    assert datetime.now(UTC) - started < timedelta(seconds=1.5)


def test_only_the_feed_is_a_calendar(server: FeedServer) -> None:
    connector, tokens = connected(server)
    answer = connector.free_busy(str(tokens.access_token), ["other"], *DAY, GRANT)
    assert answer["other"].error == "no_such_calendar"


def test_a_loopback_feed_is_refused_without_the_allowlist(server: FeedServer) -> None:
    with pytest.raises(AddressRefused):
        IcsConnector(ca_bundle=server.ca_path).connect({"feed_url": server.url}, SCOPES)
    assert server.publisher.answered == {}  # nothing was sent


@pytest.mark.parametrize(
    "address",
    [
        "https://169.254.169.254/latest/meta-data/calendar.ics",  # cloud metadata
        "https://10.1.2.3/calendar.ics",  # private
        "http://93.184.215.14/calendar.ics",  # plain http, not loopback
    ],
)
def test_addresses_inside_a_deployment_are_refused(address: str, server: FeedServer) -> None:
    with pytest.raises(AddressRefused):
        connector_for(server).connect({"feed_url": address}, SCOPES)


def test_a_redirect_to_a_private_address_is_refused(server: FeedServer) -> None:
    connector, tokens = connected(server)
    server.publisher.redirect_to = "https://10.1.2.3/calendar.ics"
    with pytest.raises(AddressRefused):
        connector.connect({"feed_url": server.url}, SCOPES)
    found = busy_of(connector, tokens)
    assert found.error == "address_refused" and found.busy == ()

"""ICS change checks against a real HTTPS feed server: a conditional GET with the last
answer's validators; a 304 keeps the token, a new version of the feed changes it, and a
server without validators still keeps it while the feed's content stays the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trustme

from connectors.errors import AccessRefused, ProviderUnavailable
from tests.connectors.ics_events import EVENTS, FEED, PLANTED_IN_FEED, feed
from tests.connectors.ics_server import FeedServer, publish_feed
from tests.connectors.test_ics import ca, ca_path, connected

__all__ = ["ca", "ca_path"]  # the module's certificate authority, shared

PRIMARY = "primary"


@pytest.fixture
def server(ca: trustme.CA, ca_path: str) -> Iterator[FeedServer]:
    with publish_feed(ca, ca_path, FEED) as published:
        yield published


def test_an_unchanged_feed_answers_304_and_keeps_its_token(server: FeedServer) -> None:
    connector, tokens = connected(server)
    access = str(tokens.access_token)
    first = connector.change_token(access, PRIMARY)
    assert first is not None
    before = server.publisher.count(200)

    assert connector.change_token(access, PRIMARY, first) == first
    assert server.publisher.count(200) == before  # a 304: no download
    assert server.publisher.conditions[-1][0] == server.publisher.etag

    server.publisher.publish(feed(*EVENTS[:1]), etag='"v2"')
    second = connector.change_token(access, PRIMARY, first)
    assert second is not None and second != first
    for planted in PLANTED_IN_FEED:
        assert planted not in second


def test_without_validators_the_token_follows_the_content(server: FeedServer) -> None:
    server.publisher.etag = server.publisher.last_modified = None
    connector, tokens = connected(server)
    access = str(tokens.access_token)
    first = connector.change_token(access, PRIMARY)
    assert connector.change_token(access, PRIMARY, first) == first
    server.publisher.publish(feed(*EVENTS[:1]))
    assert connector.change_token(access, PRIMARY, first) != first


@pytest.mark.parametrize(("status", "error"), [(404, AccessRefused), (503, ProviderUnavailable)])
def test_a_reset_or_failing_address_is_an_error(
    server: FeedServer, status: int, error: type[Exception]
) -> None:
    connector, tokens = connected(server)
    server.publisher.status = status
    with pytest.raises(error):
        connector.change_token(str(tokens.access_token), PRIMARY)

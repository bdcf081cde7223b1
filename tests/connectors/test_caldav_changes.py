"""CalDAV change checks against a real Radicale: the calendar's sync-token (RFC 6578) read
with one depth-0 PROPFIND that reads no event; it changes when an event is added, and
stays the same while nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import caldav
import pytest
import trustme

from connectors.errors import AccessRefused
from connectors.typed_credential import PRIMARY
from tests.connectors.caldav_events import EVENTS, PLANTED
from tests.connectors.radicale_server import Radicale, seed, start_radicale
from tests.connectors.test_caldav import PASSWORD, connected


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def radicale(tmp_path: Path, ca: trustme.CA) -> Iterator[Radicale]:
    with start_radicale(tmp_path, ca, {"alice": PASSWORD}) as server:
        yield server


def add_event(server: Radicale, url: str, text: str) -> None:
    client = caldav.DAVClient(
        server.url, username="alice", password=PASSWORD, ssl_verify_cert=server.ca_path
    )
    with client:
        client.calendar(url=url).save_event(text)


def test_the_token_stays_while_nothing_changes_and_moves_when_an_event_is_added(
    radicale: Radicale,
) -> None:
    url = seed(radicale, "alice", "Room 1", EVENTS[:1])
    connector, tokens = connected(radicale)
    access = str(tokens.access_token)
    first = connector.change_token(access, url)
    assert first is not None and first.startswith("sync:")
    radicale.behaviour.methods.clear()
    radicale.behaviour.bodies.clear()

    assert connector.change_token(access, url, first) == first
    assert radicale.behaviour.methods == ["PROPFIND"]  # one cheap request, no REPORT
    assert b"calendar-data" not in radicale.behaviour.bodies[0]

    add_event(radicale, url, EVENTS[1])
    second = connector.change_token(access, url, first)
    assert second is not None and second != first
    assert connector.change_token(access, PRIMARY, second) == second  # the first calendar


def test_the_token_holds_no_event_data(radicale: Radicale) -> None:
    url = seed(radicale, "alice", "Room 1", EVENTS)
    connector, tokens = connected(radicale)
    token = connector.change_token(str(tokens.access_token), url)
    assert token is not None
    for planted in PLANTED:
        assert planted not in token


def test_a_changed_password_is_refused(radicale: Radicale) -> None:
    url = seed(radicale, "alice", "Room 1", EVENTS[:1])
    connector, tokens = connected(radicale)
    radicale.set_password("alice", "another-password")
    with pytest.raises(AccessRefused):
        connector.change_token(str(tokens.access_token), url)

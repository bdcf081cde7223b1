"""Google push channels through the real google-api-python-client against the emulator over
HTTPS: a watch opens a channel that posts to a real receiver, its notifications read as
plain values, a stop closes it, and a grant without a watch scope is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import ScopeRefused
from connectors.google import GoogleConnector
from connectors.notifications import Notification, NotificationRefused
from tests.connectors.grants_support import ALICE, FREEBUSY, google, grant
from tests.emulator.push_helpers import Receiver

EVENTS_FREEBUSY = "https://www.googleapis.com/auth/calendar.events.freebusy"


@pytest.fixture
def connector(emulator: Any) -> GoogleConnector:
    return google(emulator)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


def token_for(connector: GoogleConnector, emulator: Any, scope: str) -> str:
    tokens = grant(connector, emulator, ALICE, scope)
    assert tokens.access_token
    return tokens.access_token


def test_a_watch_opens_a_channel_whose_notifications_read_as_plain_values(
    connector: GoogleConnector, emulator: Any, receiver: Receiver
) -> None:
    token = token_for(connector, emulator, EVENTS_FREEBUSY)
    assert connector.capabilities.can_watch(frozenset({EVENTS_FREEBUSY}))
    started = connector.start_watch(
        token, "primary", watch_id="w-1", address=receiver.url(), secret="s3", ttl_seconds=3600
    )
    assert started.watch_id == "w-1" and started.resource_id
    [live] = [c for c in emulator.client.channels() if c["id"] == "w-1"]
    assert live["live"]

    emulator.client.add_event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z", summary="x")
    sync, change = receiver.wait_for(2)
    read = [connector.read_notification(r.headers, r.body, r.query) for r in (sync, change)]
    assert read == [
        [Notification("w-1", "sync", "s3", started.resource_id, 1)],
        [Notification("w-1", "changed", "s3", started.resource_id, 2)],
    ]

    assert connector.stop_watch(token, "w-1", started.resource_id)
    assert not [c for c in emulator.client.channels() if c["id"] == "w-1" and c["live"]]
    assert connector.stop_watch(token, "w-1", started.resource_id)  # gone already: fine


def test_calendar_freebusy_alone_may_not_watch(
    connector: GoogleConnector, emulator: Any, receiver: Receiver
) -> None:
    assert not connector.capabilities.can_watch(frozenset({FREEBUSY}))
    token = token_for(connector, emulator, FREEBUSY)
    with pytest.raises(ScopeRefused):
        connector.start_watch(
            token, "primary", watch_id="w-2", address=receiver.url(), secret="s", ttl_seconds=60
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Goog-Channel-ID": "w", "X-Goog-Resource-ID": "r", "X-Goog-Resource-State": "odd"},
        {"X-Goog-Channel-ID": "w", "X-Goog-Resource-State": "exists"},
        {
            "X-Goog-Channel-ID": "w",
            "X-Goog-Resource-ID": "r",
            "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": "-1",
        },
        {
            "X-Goog-Channel-ID": "w" * 600,
            "X-Goog-Resource-ID": "r",
            "X-Goog-Resource-State": "sync",
        },
    ],
)
def test_anything_but_a_notification_is_refused(
    connector: GoogleConnector, headers: dict[str, str]
) -> None:
    with pytest.raises(NotificationRefused):
        connector.read_notification(headers, b"", {})

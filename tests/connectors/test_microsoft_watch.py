"""Graph subscriptions through the Microsoft connector against the emulator over HTTPS: a
watch creates a subscription (after the validation handshake) whose notifications read as
plain values, a renewal extends it, a delete ends it, a grant of Calendars.ReadBasic alone is
refused, and what is not Graph's is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import ScopeRefused
from connectors.microsoft import MicrosoftConnector
from connectors.notifications import Handshake, Notification, NotificationRefused
from tests.connectors.grants_support import CALENDARS, CAROL, grant, microsoft
from tests.emulator.push_helpers import Receiver

CALENDARS_READ = "Calendars.Read"
MARKER = "PLANTED-SUBJECT-MS-9"


@pytest.fixture
def connector(emulator: Any) -> MicrosoftConnector:
    return microsoft(emulator)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


def token_for(connector: MicrosoftConnector, emulator: Any, scope: str) -> str:
    tokens = grant(connector, emulator, CAROL, scope)
    assert tokens.access_token
    return tokens.access_token


def read(connector: MicrosoftConnector, received: Any) -> Any:
    return connector.read_notification(received.headers, received.body, received.query)


def test_a_watch_creates_a_subscription_whose_notifications_read_as_plain_values(
    connector: MicrosoftConnector, emulator: Any, receiver: Receiver
) -> None:
    token = token_for(connector, emulator, CALENDARS_READ)
    assert connector.capabilities.can_watch(frozenset({CALENDARS_READ}))
    started = connector.start_watch(
        token, "primary", watch_id="w-1", address=receiver.url(), secret="s3", ttl_seconds=3600
    )
    assert started.watch_id == "w-1"
    [live] = [s for s in emulator.client.subscriptions() if s["id"] == started.resource_id]
    assert live["live"] and live["resource"] == "me/events" and live["owner"] == CAROL
    assert live["change_types"] == ["created", "updated", "deleted"]
    assert live["client_state"] == "w-1:s3"
    assert abs(started.expires_at - (time.time() + 3600)) < 120
    # Graph checked both URLs first: the receiver's handshakes read as such
    checks = receiver.posts(validations=True)
    assert len(checks) == 2
    assert read(connector, checks[0]) == Handshake(checks[0].query["validationToken"])

    emulator.client.add_event(CAROL, "2030-01-07T10:00:00Z", "2030-01-07T11:00:00Z", summary=MARKER)
    [change] = receiver.wait_for(1)
    assert read(connector, change) == [Notification("w-1", "changed", "s3", started.resource_id)]
    assert MARKER not in change.body.decode()  # ids only: no resource data was asked for

    later = connector.renew_watch(token, "w-1", started.resource_id, 7200)
    assert later is not None and later > started.expires_at + 3000

    assert connector.stop_watch(token, "w-1", started.resource_id)
    assert not [s for s in emulator.client.subscriptions() if s["live"]]
    assert connector.stop_watch(token, "w-1", started.resource_id)  # gone already: fine


def test_lifecycle_events_read_as_their_states(
    connector: MicrosoftConnector, emulator: Any, receiver: Receiver
) -> None:
    token = token_for(connector, emulator, CALENDARS_READ)
    started = connector.start_watch(
        token, "primary", watch_id="w-2", address=receiver.url(), secret="s", ttl_seconds=600
    )
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        emulator.client.lifecycle(started.resource_id, event)
    notes = [read(connector, r) for r in receiver.wait_for(3)]
    assert [n.state for [n] in notes] == ["reauthorize", "missed", "removed"]
    assert {(n.watch_id, n.secret, n.resource_id) for [n] in notes} == {
        ("w-2", "s", started.resource_id)
    }


def test_calendars_readbasic_alone_may_not_watch(
    connector: MicrosoftConnector, emulator: Any, receiver: Receiver
) -> None:
    assert not connector.capabilities.can_watch(frozenset({CALENDARS}))
    token = token_for(connector, emulator, CALENDARS)
    with pytest.raises(ScopeRefused):
        connector.start_watch(
            token, "primary", watch_id="w-3", address=receiver.url(), secret="s", ttl_seconds=60
        )
    assert not emulator.client.subscriptions()


def test_another_mailbox_is_said_unwatchable_up_front_and_graph_would_refuse_it(
    connector: MicrosoftConnector, emulator: Any, receiver: Receiver
) -> None:
    """A delegated grant that may watch its own mailbox may not watch a room's: the
    connector says so before any call, and the answer is true (the refusal it spares)."""
    token = token_for(connector, emulator, CALENDARS_READ)
    assert connector.can_watch_calendar("primary")
    assert not connector.can_watch_calendar("room-atlas@contoso.example")
    with pytest.raises(ScopeRefused):
        connector.start_watch(
            token,
            "room-atlas@contoso.example",
            watch_id="w-4",
            address=receiver.url(),
            secret="s",
            ttl_seconds=60,
        )
    assert not emulator.client.subscriptions()


@pytest.mark.parametrize(
    ("body", "query"),
    [
        (b"", {}),
        (b"not json", {}),
        (b"\xff\xfe", {}),
        (b"[" * 60_000, {}),
        (b'{"value": []}', {}),
        (b'{"value": "x"}', {}),
        (b'{"value": [{"changeType": "created"}]}', {}),
        (b'{"value": [{"subscriptionId": "s", "changeType": "moved"}]}', {}),
        (b'{"value": [{"subscriptionId": "s", "lifecycleEvent": "odd"}]}', {}),
        (json.dumps({"value": [{"subscriptionId": "s"}] * 101}).encode(), {}),
        (b"", {"validationToken": ""}),
        (b"", {"validationToken": "x" * 1025}),
        (b"", {"validationToken": "line\nbreak"}),
    ],
)
def test_what_graph_does_not_send_is_refused(
    connector: MicrosoftConnector, body: bytes, query: dict[str, str]
) -> None:
    with pytest.raises(NotificationRefused):
        connector.read_notification({}, body, query)


def test_a_notification_without_our_client_state_reads_with_no_secret(
    connector: MicrosoftConnector,
) -> None:
    item = {"subscriptionId": "sub", "changeType": "updated", "clientState": 7}
    [note] = connector.read_notification({}, json.dumps({"value": [item]}).encode(), {})
    assert note == Notification("", "changed", "", "sub")

"""Delivery faults and the push part of the control API: notifications that come late,
never, twice or forged, a receiver that fails, and what the control API refuses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from emulator import EmulatorError
from tests.emulator.push_helpers import GOOGLE_SCOPE, access_token, google_calendar, graph

ALICE = "alice@example.com"
CAROL = "carol@contoso.example"


@pytest.fixture
def channel(emu: Any, receiver: Any) -> Iterator[dict[str, Any]]:
    """A live Google channel on alice's primary calendar whose `sync` was received."""
    token = access_token(emu, "google", ALICE, [GOOGLE_SCOPE + "calendar.events.freebusy"])
    body = {"id": "chan", "type": "web_hook", "address": receiver.url(), "token": "right"}
    answer = google_calendar(emu, token).events().watch(calendarId="primary", body=body).execute()
    receiver.wait_for(1)
    yield answer


def change(emu: Any, account: str = ALICE) -> str:
    return str(emu.client.add_event(account, "2030-01-07T10:00:00Z", "2030-01-07T11:00:00Z"))


def states(receiver: Any) -> list[tuple[str, str]]:
    return [
        (p.headers["X-Goog-Resource-State"], p.headers["X-Goog-Message-Number"])
        for p in receiver.posts()
    ]


def test_a_dropped_notification_never_arrives_and_the_next_does(
    emu: Any, channel: Any, receiver: Any
) -> None:
    emu.client.delivery_fault(kind="google", drop=True)

    change(emu)
    change(emu)

    receiver.wait_for(2)
    assert states(receiver) == [("sync", "1"), ("exists", "3")]  # number 2 went missing
    assert [d["outcome"] for d in emu.client.deliveries("google")] == [
        "delivered",
        "dropped",
        "delivered",
    ]


def test_a_duplicated_notification_arrives_twice_with_one_number(
    emu: Any, channel: Any, receiver: Any
) -> None:
    emu.client.delivery_fault(duplicate=True)

    change(emu)

    receiver.wait_for(3)
    assert states(receiver) == [("sync", "1"), ("exists", "2"), ("exists", "2")]


def test_a_forged_notification_carries_a_wrong_token(emu: Any, channel: Any, receiver: Any) -> None:
    emu.client.delivery_fault(kind="google", forge=True)

    change(emu)
    change(emu)

    posts = receiver.wait_for(3)
    assert [p.headers["X-Goog-Channel-Token"] for p in posts] == ["right", "forged", "right"]
    assert [d["forged"] for d in emu.client.deliveries("google")] == [False, True, False]


def test_a_reordered_notification_arrives_after_the_next_one(
    emu: Any, channel: Any, receiver: Any
) -> None:
    emu.client.delivery_fault(kind="google", reorder=True)

    change(emu)
    change(emu)

    receiver.wait_for(3)
    assert states(receiver) == [("sync", "1"), ("exists", "3"), ("exists", "2")]


def test_a_late_notification_arrives_after_its_delay(emu: Any, channel: Any, receiver: Any) -> None:
    emu.client.delivery_fault(kind="google", delay_ms=600)
    started = time.monotonic()

    change(emu)

    receiver.wait_for(2)
    assert time.monotonic() - started >= 0.6


def test_a_failing_receiver_is_recorded_and_counted(emu: Any, channel: Any, receiver: Any) -> None:
    receiver.status = 500

    change(emu)

    (_, failed) = emu.client.deliveries("google")
    assert (failed["status"], failed["outcome"]) == (500, "failed")
    assert emu.client.calls()["delivery.google"] == 2


def test_an_unreachable_receiver_is_a_failed_delivery(
    emu: Any, channel: Any, receiver: Any
) -> None:
    receiver.stop()

    change(emu)

    (_, failed) = emu.client.deliveries("google")
    assert failed["status"] is None and failed["outcome"] in ("failed", "timeout")


def test_a_forged_graph_notification_carries_a_wrong_client_state(emu: Any, receiver: Any) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with graph(emu, access_token(emu, "microsoft", CAROL, ["Calendars.Read"])) as http:
        created = http.post(
            f"{emu.url}/v1.0/subscriptions",
            json={
                "changeType": "created",
                "notificationUrl": receiver.url("/graph"),
                "resource": "me/events",
                "expirationDateTime": tomorrow,
                "clientState": "right",
            },
            timeout=30,
        )
    assert created.status_code == 201, created.text
    emu.client.delivery_fault(kind="graph", forge=True)

    change(emu, CAROL)
    change(emu, CAROL)

    posts = receiver.wait_for(2, "/graph")
    assert [p.json()["value"][0]["clientState"] for p in posts] == ["forged", "right"]


def test_injected_api_faults_answer_in_the_apis_envelopes(emu: Any, receiver: Any) -> None:
    emu.client.fault("google.watch", status=503)
    emu.client.fault("microsoft.subscriptions", status=429, retry_after=2)
    google = access_token(emu, "google", ALICE, [GOOGLE_SCOPE + "calendar.events.freebusy"])
    body = {"id": "chan", "type": "web_hook", "address": receiver.url()}
    watch = requests.post(
        f"{emu.url}/calendar/v3/calendars/primary/events/watch",
        json=body,
        headers={"Authorization": f"Bearer {google}"},
        verify=str(emu.ca_path),
        timeout=10,
    )
    assert watch.status_code == 503
    assert watch.json()["error"]["errors"][0]["reason"] == "backendError"
    with graph(emu, access_token(emu, "microsoft", CAROL, ["Calendars.Read"])) as http:
        listed = http.get(f"{emu.url}/v1.0/subscriptions", timeout=10)
    assert listed.status_code == 429 and listed.headers["Retry-After"] == "2"
    assert listed.json()["error"]["code"] == "TooManyRequests"
    assert emu.client.channels() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("delivery-faults", {"kind": "carrier-pigeon", "drop": True}),
        ("delivery-faults", {"drop": "yes"}),
        ("delivery-faults", {"times": 0, "drop": True}),
        ("delivery-faults", {}),
        ("channels/nope/expire", {}),
        ("subscriptions/nope/expire", {}),
        ("subscriptions/nope/lifecycle", {"event": "missed"}),
    ],
)
def test_the_control_api_refuses_bad_input_with_a_clear_400(
    emu: Any, path: str, body: dict[str, Any]
) -> None:
    answer = emu.client.http.post(f"{emu.url}/_emulator/{path}", json=body, timeout=10)

    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "message"}


def test_deleting_an_unknown_event_is_a_clear_400(emu: Any) -> None:
    with pytest.raises(EmulatorError) as refused:
        emu.client.delete_event("nope")
    assert refused.value.status == 400


def test_cleared_delivery_faults_no_longer_apply(emu: Any, channel: Any, receiver: Any) -> None:
    emu.client.delivery_fault(drop=True, times=-1)
    assert emu.client.clear_delivery_faults() == 1

    change(emu)

    receiver.wait_for(2)
    assert states(receiver) == [("sync", "1"), ("exists", "2")]


def test_a_slow_receiver_times_out_after_the_delivery_timeout(
    emu: Any, channel: Any, receiver: Any
) -> None:
    emu.client.settings(delivery_timeout_ms=200)
    receiver.delay = 1.0

    change(emu)

    (_, slow) = emu.client.deliveries("google")
    assert (slow["status"], slow["outcome"]) == (None, "timeout")

"""Graph change notifications at the emulator: the validation handshake before 201, ids-only
notifications carrying the clientState, renewal, deletion and lifecycle events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.emulator.push_helpers import access_token, graph

CAROL = "carol@contoso.example"
ATLAS = "room-atlas@contoso.example"
CONTOSO = "11111111-1111-4111-8111-111111111111"
MARKER = "PLANTED-SUBJECT-7Q"
FAILED = (
    "Subscription validation request failed. Notification endpoint must respond with "
    "200 OK to validation request."
)


def in_minutes(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def carol(emu: Any) -> Iterator[requests.Session]:
    with graph(emu, access_token(emu, "microsoft", CAROL, ["Calendars.Read"])) as session:
        yield session


def subscribe(emu: Any, http: requests.Session, receiver: Any, **change: Any) -> requests.Response:
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url("/hooks/graph"),
        "lifecycleNotificationUrl": receiver.url("/hooks/graph-lifecycle"),
        "resource": "me/events",
        "expirationDateTime": in_minutes(60),
        "clientState": "sealed-secret-1",
        **change,
    }
    return http.post(f"{emu.url}/v1.0/subscriptions", json=body, timeout=30)


def add_event(emu: Any, account: str = CAROL, **fields: Any) -> str:
    return str(
        emu.client.add_event(
            account,
            "2030-01-07T10:00:00Z",
            "2030-01-07T11:00:00Z",
            summary=MARKER,
            location=MARKER,
            **fields,
        )
    )


def test_the_handshake_echoes_the_token_before_the_201(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    answer = subscribe(emu, carol, receiver)

    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["clientState"] == "sealed-secret-1"
    assert created["resource"] == "me/events"
    assert created["changeType"] == "created,updated,deleted"
    assert created["notificationUrl"] == receiver.url("/hooks/graph")
    assert created["includeResourceData"] is False
    assert created["expirationDateTime"].endswith("Z")
    checks = receiver.posts(validations=True)
    assert [c.path for c in checks] == ["/hooks/graph", "/hooks/graph-lifecycle"]
    assert checks[0].headers["Content-Type"].startswith("text/plain")
    assert checks[0].query["validationToken"].startswith("Validation: ")
    assert [s["id"] for s in emu.client.subscriptions()] == [created["id"]]
    assert emu.client.calls()["microsoft.subscriptions"] == 1


@pytest.mark.parametrize("validation", ["wrong", "json"])
def test_a_wrong_echo_fails_the_create_with_400(
    emu: Any, carol: requests.Session, receiver: Any, validation: str
) -> None:
    receiver.validation = validation

    answer = subscribe(emu, carol, receiver)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidRequest"
    assert answer.json()["error"]["message"] == FAILED
    assert emu.client.subscriptions() == []


def test_a_slow_receiver_fails_the_handshake(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    emu.client.settings(validation_timeout_ms=300)
    receiver.delay = 1.0

    answer = subscribe(emu, carol, receiver)

    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == FAILED
    assert emu.client.subscriptions() == []
    assert [d["outcome"] for d in emu.client.deliveries("validation")] == ["timeout"]


def test_a_validation_that_never_arrives_fails_the_create(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    emu.client.delivery_fault(kind="validation", drop=True)

    answer = subscribe(emu, carol, receiver)

    assert answer.status_code == 400
    assert receiver.posts(validations=True) == []


def test_notifications_carry_ids_and_the_client_state_only(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    sub = subscribe(emu, carol, receiver).json()
    carol_oid = next(a["subject"] for a in emu.client.accounts() if a["email"] == CAROL)

    event_id = add_event(emu)
    emu.client.add_event(CAROL, "2030-01-08T10:00:00Z", "2030-01-08T12:00:00Z", event_id=event_id)
    emu.client.delete_event(event_id)
    add_event(emu, account="dave@contoso.example")  # another mailbox

    posts = receiver.wait_for(3, "/hooks/graph")
    time.sleep(0.2)
    assert len(receiver.posts("/hooks/graph")) == 3
    items = [p.json()["value"] for p in posts]
    assert [len(i) for i in items] == [1, 1, 1]
    assert [i[0]["changeType"] for i in items] == ["created", "updated", "deleted"]
    for (item,) in items:
        assert set(item) == {
            "subscriptionId",
            "subscriptionExpirationDateTime",
            "clientState",
            "changeType",
            "resource",
            "tenantId",
            "resourceData",
        }
        assert item["subscriptionId"] == sub["id"]
        assert item["clientState"] == "sealed-secret-1"
        assert item["tenantId"] == CONTOSO
        assert item["resource"] == f"Users/{carol_oid}/Events/{event_id}"
        data = item["resourceData"]
        assert set(data) == {"@odata.type", "@odata.id", "@odata.etag", "id"}
        assert data["@odata.type"] == "#Microsoft.Graph.Event" and data["id"] == event_id
    assert all(MARKER not in p.body.decode() for p in receiver.received)
    assert [(d["status"], d["outcome"]) for d in emu.client.deliveries("graph")] == [
        (202, "delivered")
    ] * 3


def test_only_the_change_types_asked_for_are_sent(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    subscribe(emu, carol, receiver, changeType="deleted")

    emu.client.delete_event(add_event(emu))

    (post,) = receiver.wait_for(1, "/hooks/graph")
    assert post.json()["value"][0]["changeType"] == "deleted"
    assert len(emu.client.deliveries("graph")) == 1


def test_a_delegated_token_watches_only_its_own_mailbox(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    # "Delegated permission supports subscribing to items in folders in only the signed-in
    # user's mailbox" (subscription-post-subscriptions): a room's mailbox is refused
    refused = subscribe(emu, carol, receiver, resource=f"users/{ATLAS}/events")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ExtensionError"
    assert not emu.client.subscriptions()
    mine = subscribe(emu, carol, receiver, resource=f"users/{CAROL}/calendar/events")
    assert mine.status_code == 201, mine.text

    add_event(emu, account=ATLAS)  # the room's calendar: not watched
    add_event(emu)

    (post,) = receiver.wait_for(1, "/hooks/graph")
    assert post.json()["value"][0]["resource"].startswith("Users/")
    assert len(emu.client.deliveries("graph")) == 1


def test_renew_read_and_delete(emu: Any, carol: requests.Session, receiver: Any) -> None:
    sub = subscribe(emu, carol, receiver).json()
    url = f"{emu.url}/v1.0/subscriptions/{sub['id']}"

    renewed = carol.patch(url, json={"expirationDateTime": in_minutes(10_000)}, timeout=10)
    assert renewed.status_code == 200, renewed.text
    later = datetime.fromisoformat(renewed.json()["expirationDateTime"].replace("Z", "+00:00"))
    assert later > datetime.now(UTC) + timedelta(minutes=9_990)
    too_far = carol.patch(url, json={"expirationDateTime": in_minutes(10_090)}, timeout=10)
    assert too_far.status_code == 400
    read = carol.get(url, timeout=10).json()
    assert read["expirationDateTime"] == renewed.json()["expirationDateTime"]
    assert read["clientState"] is None  # Graph does not give the secret back
    assert [
        s["id"] for s in carol.get(f"{emu.url}/v1.0/subscriptions", timeout=10).json()["value"]
    ] == [sub["id"]]

    assert carol.delete(url, timeout=10).status_code == 204
    assert carol.get(url, timeout=10).status_code == 404
    assert carol.delete(url, timeout=10).status_code == 404
    add_event(emu)
    assert emu.client.deliveries("graph") == []


def test_a_subscription_is_the_creating_apps_and_persons_only(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    sub = subscribe(emu, carol, receiver).json()
    dave_token = access_token(emu, "microsoft", "dave@contoso.example", ["Calendars.Read"])
    with graph(emu, dave_token) as dave:
        assert dave.get(f"{emu.url}/v1.0/subscriptions/{sub['id']}", timeout=10).status_code == 404
        assert (
            dave.delete(f"{emu.url}/v1.0/subscriptions/{sub['id']}", timeout=10).status_code == 404
        )
    assert [s["live"] for s in emu.client.subscriptions()] == [True]


@pytest.mark.parametrize(
    "change",
    [
        {"expirationDateTime": in_minutes(10_090)},
        {"expirationDateTime": in_minutes(-5)},
        {"expirationDateTime": "next tuesday"},
        {"clientState": "x" * 256},
        {"changeType": "created,exploded"},
        {"notificationUrl": "http://gateway.example/hooks"},
        {"lifecycleNotificationUrl": "javascript:alert(1)"},
        {"resource": "me/messages"},
    ],
)
def test_bad_subscriptions_are_refused_before_any_handshake(
    emu: Any, carol: requests.Session, receiver: Any, change: dict[str, Any]
) -> None:
    answer = subscribe(emu, carol, receiver, **change)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidRequest"
    assert receiver.received == []
    assert emu.client.subscriptions() == []


def test_calendars_readbasic_cannot_subscribe_to_events(emu: Any, receiver: Any) -> None:
    basic = access_token(emu, "microsoft", CAROL, ["Calendars.ReadBasic"])
    with graph(emu, basic) as http:
        answer = subscribe(emu, http, receiver)

    assert answer.status_code == 403
    assert receiver.received == []
    assert emu.client.subscriptions() == []


def test_an_expired_subscription_is_gone_and_silent(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    sub = subscribe(emu, carol, receiver).json()

    emu.client.expire_subscription(sub["id"])
    add_event(emu)

    assert emu.client.deliveries("graph") == []
    assert carol.get(f"{emu.url}/v1.0/subscriptions/{sub['id']}", timeout=10).status_code == 404


@pytest.mark.parametrize("event", ["reauthorizationRequired", "missed", "subscriptionRemoved"])
def test_lifecycle_events_reach_the_lifecycle_url(
    emu: Any, carol: requests.Session, receiver: Any, event: str
) -> None:
    sub = subscribe(emu, carol, receiver).json()

    emu.client.lifecycle(sub["id"], event)

    (post,) = receiver.wait_for(1, "/hooks/graph-lifecycle")
    (item,) = post.json()["value"]
    assert item["lifecycleEvent"] == event
    assert item["subscriptionId"] == sub["id"]
    assert item["clientState"] == "sealed-secret-1"
    assert item["tenantId"] == CONTOSO
    assert "changeType" not in item
    live = carol.get(f"{emu.url}/v1.0/subscriptions/{sub['id']}", timeout=10).status_code == 200
    assert live is (event != "subscriptionRemoved")


def test_the_validation_token_arrives_url_encoded(
    emu: Any, carol: requests.Session, receiver: Any
) -> None:
    subscribe(emu, carol, receiver)

    check = receiver.posts(validations=True)[0]
    assert " " in check.query["validationToken"]
    assert "validationToken=Validation%3A%20Testing%20" in check.raw_query

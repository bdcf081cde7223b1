"""Google Calendar push at the emulator, through google-api-python-client: events.watch
answers a channel and posts `sync`, every change of a watched calendar posts `exists`
with the channel's headers, and a stopped or expired channel stays silent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.emulator.push_helpers import GOOGLE_SCOPE, access_token, google_calendar

ALICE = "alice@example.com"
WATCHING = GOOGLE_SCOPE + "calendar.events.freebusy"
FREEBUSY_ONLY = GOOGLE_SCOPE + "calendar.freebusy"


@pytest.fixture
def alice(emu: Any) -> Iterator[Any]:
    yield google_calendar(emu, access_token(emu, "google", ALICE, [WATCHING]))


def watch(calendar: Any, receiver: Any, channel_id: str = "chan-1", **extra: Any) -> Any:
    body = {"id": channel_id, "type": "web_hook", "address": receiver.url(), **extra}
    return calendar.events().watch(calendarId="primary", body=body).execute()


def add_event(emu: Any, account: str = ALICE, **fields: Any) -> str:
    return str(
        emu.client.add_event(
            account, "2030-01-07T10:00:00Z", "2030-01-07T11:00:00Z", summary="Planted", **fields
        )
    )


def test_watch_answers_a_channel_and_posts_sync(emu: Any, alice: Any, receiver: Any) -> None:
    before_ms = time.time() * 1000
    channel = watch(alice, receiver, token="hmac-of-chan-1", params={"ttl": "3600"})

    assert channel["kind"] == "api#channel"
    assert channel["id"] == "chan-1" and channel["token"] == "hmac-of-chan-1"
    assert channel["resourceId"] and ALICE in channel["resourceUri"]
    assert isinstance(channel["expiration"], str)
    assert before_ms + 3_590_000 < int(channel["expiration"]) < before_ms + 3_610_000
    (sync,) = receiver.wait_for(1)
    assert sync.headers["X-Goog-Resource-State"] == "sync"
    assert sync.headers["X-Goog-Message-Number"] == "1"
    assert sync.headers["X-Goog-Channel-Id"] == "chan-1"
    assert sync.headers["X-Goog-Channel-Token"] == "hmac-of-chan-1"
    assert sync.headers["X-Goog-Resource-Id"] == channel["resourceId"]
    assert sync.body == b""
    assert emu.client.calls()["google.watch"] == 1


def test_every_change_posts_exists_with_the_channels_headers(
    emu: Any, alice: Any, receiver: Any
) -> None:
    channel = watch(alice, receiver, token="tok")
    receiver.wait_for(1)

    event_id = add_event(emu)
    emu.client.add_event(ALICE, "2030-01-08T10:00:00Z", "2030-01-08T12:00:00Z", event_id=event_id)
    emu.client.delete_event(event_id)
    add_event(emu, account="bob@example.com")  # another calendar: not this channel's

    posts = receiver.wait_for(4)
    time.sleep(0.2)
    assert len(receiver.posts()) == 4
    changes = posts[1:]
    assert [p.headers["X-Goog-Resource-State"] for p in changes] == ["exists"] * 3
    assert [p.headers["X-Goog-Message-Number"] for p in changes] == ["2", "3", "4"]
    for post in changes:
        assert post.body == b""
        assert post.headers["X-Goog-Channel-Id"] == "chan-1"
        assert post.headers["X-Goog-Channel-Token"] == "tok"
        assert post.headers["X-Goog-Resource-Id"] == channel["resourceId"]
        assert post.headers["X-Goog-Resource-Uri"] == channel["resourceUri"]
        expires = parsedate_to_datetime(post.headers["X-Goog-Channel-Expiration"])
        assert abs(expires.timestamp() * 1000 - int(channel["expiration"])) < 1000
    log = emu.client.deliveries("google")
    assert [(d["state"], d["status"], d["outcome"]) for d in log] == [
        ("sync", 202, "delivered"),
        *[("exists", 202, "delivered")] * 3,
    ]
    assert emu.client.calls()["delivery.google"] == 4


def test_a_stopped_channel_stays_silent(emu: Any, alice: Any, receiver: Any) -> None:
    channel = watch(alice, receiver)
    receiver.wait_for(1)

    alice.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute()
    add_event(emu)

    assert len(emu.client.deliveries("google")) == 1
    assert receiver.posts()[-1].headers["X-Goog-Resource-State"] == "sync"
    assert [c["live"] for c in emu.client.channels()] == [False]
    with pytest.raises(HttpError) as again:
        alice.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute()
    assert again.value.resp.status == 404


def test_an_expired_channel_stays_silent(emu: Any, alice: Any, receiver: Any) -> None:
    watch(alice, receiver, channel_id="short", params={"ttl": "1"})
    watch(alice, receiver, channel_id="long")
    receiver.wait_for(2)
    emu.client.expire_channel("long")
    time.sleep(1.1)

    add_event(emu)

    assert [d["state"] for d in emu.client.deliveries("google")] == ["sync", "sync"]
    assert {c["id"]: c["live"] for c in emu.client.channels()} == {"short": False, "long": False}


def test_calendar_freebusy_alone_cannot_watch(emu: Any, receiver: Any) -> None:
    narrow = google_calendar(emu, access_token(emu, "google", ALICE, [FREEBUSY_ONLY]))

    with pytest.raises(HttpError) as refused:
        watch(narrow, receiver)

    assert refused.value.resp.status == 403
    assert refused.value.error_details[0]["reason"] == "insufficientPermissions"
    assert emu.client.channels() == []
    assert receiver.posts() == []


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"address": "http://gateway.example/hooks"}, 400, "push.webhookUrlNotHttps"),
        ({"address": "ftp://127.0.0.1/hooks"}, 400, "push.webhookUrlNotHttps"),
        ({"id": ""}, 400, "required"),
        ({"id": "x" * 65}, 400, "invalid"),
        ({"type": "pigeon"}, 400, "invalidChannelType"),
        ({"params": {"ttl": "soon"}}, 400, "invalid"),
    ],
)
def test_bad_watch_requests_are_refused_and_change_nothing(
    emu: Any, alice: Any, receiver: Any, change: dict[str, Any], status: int, reason: str
) -> None:
    body = {"id": "chan-1", "type": "web_hook", "address": receiver.url(), **change}

    with pytest.raises(HttpError) as refused:
        alice.events().watch(calendarId="primary", body=body).execute()

    assert refused.value.resp.status == status
    assert refused.value.error_details[0]["reason"] == reason
    assert emu.client.channels() == []
    assert receiver.posts() == []


def test_a_channel_id_is_unique_and_an_unknown_calendar_is_not_found(
    emu: Any, alice: Any, receiver: Any
) -> None:
    watch(alice, receiver)
    with pytest.raises(HttpError) as twice:
        watch(alice, receiver)
    assert twice.value.resp.status == 400
    body = {"id": "chan-2", "type": "web_hook", "address": receiver.url()}
    with pytest.raises(HttpError) as unknown:
        alice.events().watch(calendarId="nobody@nowhere.example", body=body).execute()
    assert unknown.value.resp.status == 404
    assert [c["id"] for c in emu.client.channels()] == ["chan-1"]


def test_a_room_calendar_channel_hears_of_the_rooms_events(emu: Any, receiver: Any) -> None:
    scopes = [WATCHING, GOOGLE_SCOPE + "calendar.calendarlist.readonly"]
    alice = google_calendar(emu, access_token(emu, "google", ALICE, scopes))
    listed = alice.calendarList().list().execute()["items"]
    room = next(c["id"] for c in listed if c["id"].endswith("@group.calendar.google.com"))
    body = {"id": "room", "type": "web_hook", "address": receiver.url()}
    alice.events().watch(calendarId=room, body=body).execute()

    add_event(emu, calendar=room)
    add_event(emu)  # alice's primary calendar: not the room's

    states = [d["state"] for d in emu.client.deliveries("google")]
    assert states == ["sync", "exists"]


def test_watch_and_stop_need_a_live_google_token(emu: Any, receiver: Any) -> None:
    headers = {"Authorization": "Bearer ya29.not-a-token"}
    body = {"id": "chan-1", "type": "web_hook", "address": receiver.url()}

    watching = emu.client.http.post(
        f"{emu.url}/calendar/v3/calendars/primary/events/watch",
        json=body,
        headers=headers,
        timeout=10,
    )
    stopping = emu.client.http.post(
        f"{emu.url}/calendar/v3/channels/stop", json={"id": "chan-1", "resourceId": "r"}, timeout=10
    )

    assert watching.status_code == 401 and stopping.status_code == 401
    assert watching.json()["error"]["errors"][0]["reason"] == "authError"
    assert emu.client.channels() == [] and receiver.posts() == []

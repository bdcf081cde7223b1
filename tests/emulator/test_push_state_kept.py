"""With a state file, a restarted emulator keeps its Google channels and Graph
subscriptions: a change after the restart still reaches the receivers, numbered on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from emulator import start_emulator
from tests.emulator.push_helpers import GOOGLE_SCOPE, access_token, google_calendar, graph

ALICE = "alice@example.com"
CAROL = "carol@contoso.example"


def test_channels_and_subscriptions_survive_a_restart(tmp_path: Path, receiver: Any) -> None:
    state_path = tmp_path / "emulator-state.json"
    ca_path = tmp_path / "ca.pem"
    with start_emulator(ca_path=ca_path, state_path=state_path) as first:
        google = access_token(first, "google", ALICE, [GOOGLE_SCOPE + "calendar.events.freebusy"])
        body = {"id": "kept", "type": "web_hook", "address": receiver.url("/g"), "token": "t"}
        channel = google_calendar(first, google).events().watch(calendarId="primary", body=body)
        channel = channel.execute()
        receiver.wait_for(1, "/g")
        first.client.add_event(ALICE, "2030-01-07T10:00:00Z", "2030-01-07T11:00:00Z")
        receiver.wait_for(2, "/g")
        with graph(first, access_token(first, "microsoft", CAROL, ["Calendars.Read"])) as http:
            sub = http.post(
                f"{first.url}/v1.0/subscriptions",
                json={
                    "changeType": "created",
                    "notificationUrl": receiver.url("/m"),
                    "resource": "me/events",
                    "expirationDateTime": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
                    "clientState": "kept-secret",
                },
                timeout=30,
            ).json()
        first.client.deliveries()  # every queued delivery attempted before the stop

    with start_emulator(ca_path=ca_path, state_path=state_path) as second:
        assert [(c["id"], c["live"]) for c in second.client.channels()] == [("kept", True)]
        assert [(s["id"], s["live"]) for s in second.client.subscriptions()] == [(sub["id"], True)]

        second.client.add_event(ALICE, "2030-01-08T10:00:00Z", "2030-01-08T11:00:00Z")
        second.client.add_event(CAROL, "2030-01-08T10:00:00Z", "2030-01-08T11:00:00Z")

        google_posts = receiver.wait_for(3, "/g")
        (graph_post,) = receiver.wait_for(1, "/m")
    last = google_posts[-1].headers
    assert last["X-Goog-Resource-State"] == "exists"
    assert last["X-Goog-Message-Number"] == "3"
    assert last["X-Goog-Resource-Id"] == channel["resourceId"]
    assert last["X-Goog-Channel-Token"] == "t"
    (item,) = graph_post.json()["value"]
    assert (item["subscriptionId"], item["clientState"]) == (sub["id"], "kept-secret")

"""For the change feed's tests: a live gateway the emulator delivers to, trusting a webhook
receiver; a worker delivering events; a `frontend` client subscribed to the receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from standardwebhooks import Webhook
from werkzeug.serving import make_server

from gateway.worker import Worker
from tests.gateway.services.watch_support import wait_for
from tests.gateway.services.webhook_receiver import Receiver, webhook_receiver
from tests.hosts import Hosts

EVERY_DAY = {
    d: [["08:00", "18:00"]]
    for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
GENEROUS = 60.0  # an overall bound for a shared machine, not a latency measured


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with webhook_receiver(tmp_path) as found:
        yield found


@pytest.fixture
def app(
    build_gateway: Any, make_env: Any, emulator: Any, receiver: Receiver, tmp_path: Path
) -> Iterator[Flask]:
    """The gateway (an hour's TTL) trusting the receiver's CA, loopback allow-listed, also
    listening on loopback for the emulator's notifications."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(emulator.ca_path).read_bytes() + receiver.ca_path.read_bytes())
    gateway = build_gateway(
        make_env(
            GATEWAY_FREEBUSY_TTL_SECONDS="3600",
            GATEWAY_CA_BUNDLE=str(bundle),
            GATEWAY_OUTBOUND_ALLOWLIST="127.0.0.1/32",
        )
    )
    server = make_server("127.0.0.1", 0, gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway.extensions["gateway"].watches.public_url = f"http://127.0.0.1:{server.port}"
    yield gateway
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def worker(app: Flask) -> Iterator[None]:
    """A worker running the delivery tasks (no periodic jobs)."""
    consumer = Worker(app, jobs=[], tick_seconds=0.2).consumer(signals=False)
    consumer.start()
    yield
    consumer.stop(graceful=True)


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def subscribed(app: Flask, receiver: Receiver) -> tuple[str, str]:
    """(client id, signing secret) of a `frontend` client whose webhook is the receiver."""
    services = app.extensions["gateway"]
    client, _ = services.clients.create("booking", audiences=["frontend"])
    return client.id, services.change_feed.register(client.id, receiver.url)


def room(app: Flask, room_id: str, uid: str | None = None, visibility: str = "frontend") -> None:
    app.extensions["gateway"].rooms.create(
        {
            "id": room_id,
            "name": room_id.title(),
            "time_zone": "UTC",
            "hours": EVERY_DAY,
            "host": uid,
            "visibility": [visibility],
        }
    )


def verified(secret: str, received: Any) -> dict[str, Any]:
    """The event, once its signature checks (raises otherwise), as a receiver does."""
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


def statuses(secret: str, receiver: Receiver, room_id: str) -> list[str]:
    """The statuses the receiver was told for a room, each signature checked, in the order
    of their timestamps (deliveries run in parallel: arrival is no order)."""
    events = [verified(secret, r) for r in receiver.of_type("room.status.changed")]
    events.sort(key=lambda e: str(e["timestamp"]))
    return [e["data"]["status"] for e in events if e["data"]["room"] == room_id]


def told(secret: str, receiver: Receiver, room_id: str, status: str) -> Any:
    """The first status event of the room saying `status` (binding the room said `ok`)."""
    for received in wait_for(
        lambda: [
            r
            for r in receiver.of_type("room.status.changed")
            if verified(secret, r)["data"] == {"room": room_id, "status": status}
        ],
        timeout=GENEROUS,
    ):
        return received

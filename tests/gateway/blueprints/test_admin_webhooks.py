"""The admin JSON API for the change feed: an API client's webhook (never its secret) and its
delivery log (never an event's data); an unknown client or a missing webhook is a 404 JSON
error, a member who is no admin gets a 403, and nobody signed in a 401."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.gateway.blueprints.admin_pages import alice, bob, gateway_env, services_of

__all__ = ["alice", "bob", "gateway_env"]  # the fixtures these tests use

PUBLIC = "https://8.8.8.8/hooks/rooms"  # a literal: checked without a DNS lookup
ENTRY = {"type": "room.status.changed", "room": "atlas", "at": "2026-12-07T18:00:00Z"}


def subscribed(app: Flask) -> tuple[str, str]:
    """(client id, signing secret) of a client whose webhook is registered."""
    found, _ = services_of(app).clients.create("Booking frontend", audiences=["frontend"])
    return found.id, services_of(app).change_feed.register(found.id, PUBLIC)


def test_an_admin_reads_a_clients_webhook_without_its_secret(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    client_id, secret = subscribed(app)

    answer = client.get(f"/v1/admin/clients/{client_id}/webhook")

    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert set(body) == {"client", "url", "created", "events"}
    assert body["client"] == client_id and body["url"] == PUBLIC
    assert body["events"] == ["room.availability.changed", "room.status.changed"]
    created = datetime.fromisoformat(body["created"])
    assert created.timestamp() == pytest.approx(
        services_of(app).change_feed.endpoint(client_id).created, abs=0.001
    )
    text = answer.get_data(as_text=True)
    assert secret not in text and secret.removeprefix("whsec_") not in text


def test_an_admin_reads_the_delivery_log_newest_first_and_nothing_of_the_events(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    client_id, secret = subscribed(app)
    feed = services_of(app).change_feed
    planted = {"data": {"start": "2026-12-07T09:00:00Z"}, "secret": secret}  # never shown
    failed = {**ENTRY, "status": "failed", "answer": "500", "attempts": 5}
    feed.store.log(client_id, "msg_1", {**failed, **planted})
    second = {**ENTRY, "type": "room.availability.changed", "room": "borealis"}
    delivered = {**second, "status": "delivered", "answer": "ok", "attempts": 1}
    feed.store.log(client_id, "msg_2", delivered)

    answer = client.get(f"/v1/admin/clients/{client_id}/deliveries")

    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["client"] == client_id
    assert body["deliveries"] == [{**delivered, "id": "msg_2"}, {**failed, "id": "msg_1"}]
    text = answer.get_data(as_text=True)
    assert secret not in text and secret.removeprefix("whsec_") not in text
    assert '"data"' not in text and '"start"' not in text


def test_an_unknown_client_and_a_client_without_a_webhook_are_404_json(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    found, _ = services_of(app).clients.create("Kiosk", audiences=["kiosk"])

    for path in ("/v1/admin/clients/nowhere/webhook", "/v1/admin/clients/nowhere/deliveries"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.get_json() == {
            "error": "client_not_found",
            "message": "there is no API client 'nowhere'",
        }
    none = client.get(f"/v1/admin/clients/{found.id}/webhook")
    assert none.status_code == 404
    assert none.get_json() == {
        "error": "webhook_not_found",
        "message": f"API client {found.id!r} has no webhook",
    }
    empty = client.get(f"/v1/admin/clients/{found.id}/deliveries")
    assert empty.get_json() == {"client": found.id, "deliveries": []}


def test_a_member_who_is_no_admin_gets_403_and_nobody_signed_in_401(
    app: Flask, client: FlaskClient, alice: tuple[FlaskClient, str]
) -> None:
    client_id, _ = subscribed(app)
    member, _ = alice

    for what in ("webhook", "deliveries"):
        path = f"/v1/admin/clients/{client_id}/{what}"
        refused = member.get(path)
        assert refused.status_code == 403
        assert refused.get_json()["error"] == "forbidden"
        assert PUBLIC not in refused.get_data(as_text=True)
        anonymous = app.test_client().get(path)
        assert anonymous.status_code == 401
        assert anonymous.get_json()["error"] == "unauthorized"

"""An API client's webhook as an admin sets it in the browser: the signing secret on the one
page that answers, never again; an address the SSRF rules refuse is a 400 that changes
nothing; the page lists the last deliveries."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.gateway.blueprints.admin_pages import (
    bob,
    csrf_token,
    element,
    gateway_env,
    href_of,
    services_of,
    text_of,
)

__all__ = ["bob", "gateway_env"]  # the fixtures these tests use

PUBLIC = "https://8.8.8.8/hooks/rooms"  # a literal: checked without a DNS lookup


def test_an_admin_sets_a_webhook_and_sees_its_secret_once(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    found, _ = services_of(app).clients.create("Booking frontend", audiences=["frontend"])
    listed = text_of(client.get("/admin/clients"))
    page_url = href_of(listed, f"webhook-{found.id}")
    assert page_url == f"/admin/clients/{found.id}/webhook"
    assert element(text_of(client.get(page_url)), "webhook-url").startswith("No webhook")

    answer = client.post(page_url, data={"csrf_token": csrf_token(client), "url": PUBLIC})

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    secret = element(text_of(answer), "webhook-secret")
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    again = text_of(client.get(page_url))
    assert PUBLIC in element(again, "webhook-url")
    assert secret not in again and secret.removeprefix("whsec_") not in again
    assert services_of(app).change_feed.endpoint(found.id).secret == secret


def test_a_private_address_is_refused_and_the_webhook_stays_as_it_was(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    found, _ = services_of(app).clients.create("Booking frontend", audiences=["frontend"])
    services_of(app).change_feed.register(found.id, PUBLIC)
    before = services_of(app).change_feed.endpoint(found.id)

    answer = client.post(
        f"/admin/clients/{found.id}/webhook",
        data={"csrf_token": csrf_token(client), "url": "https://10.0.0.8/hooks"},
    )

    assert answer.status_code == 400
    assert "private" in element(text_of(answer), "form-errors")
    assert services_of(app).change_feed.endpoint(found.id) == before


def test_the_page_lists_the_last_deliveries_and_the_webhook_can_be_stopped(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    found, _ = services_of(app).clients.create("Booking frontend", audiences=["frontend"])
    feed = services_of(app).change_feed
    feed.register(found.id, PUBLIC)
    entry = {"type": "room.status.changed", "room": "atlas", "at": "2026-12-07T18:00:00Z"}
    feed.store.log(found.id, "msg_1", {**entry, "status": "failed", "answer": "500", "attempts": 5})

    page = text_of(client.get(f"/admin/clients/{found.id}/webhook"))

    table = element(page, "deliveries")
    for shown in ("room.status.changed", "atlas", "failed", "500", "5"):
        assert shown in table
    stopped = client.post(
        f"/admin/clients/{found.id}/webhook/delete", data={"csrf_token": csrf_token(client)}
    )
    assert stopped.status_code == 303
    assert feed.endpoint(found.id) is None
    assert element(text_of(client.get(stopped.headers["Location"])), "no-deliveries")

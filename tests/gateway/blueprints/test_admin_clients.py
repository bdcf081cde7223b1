"""API clients created, disabled and enabled by an admin in the browser: the secret is shown
on the one page that answers the creation and works; never again; a disabled client's secret
is refused by the JSON API until it is enabled."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.gateway.blueprints.admin_pages import (
    XSS,
    alice,
    bob,
    csrf_token,
    element,
    gateway_env,
    row_ids,
    services_of,
    text_of,
)

__all__ = ["alice", "bob", "gateway_env"]  # the fixtures these tests use


def rooms_as(app: Flask, secret: str) -> int:
    """The status the JSON API answers the client's room list with."""
    answer = app.test_client().get("/v1/rooms", headers={"Authorization": f"Bearer {secret}"})
    return int(answer.status_code)


def test_an_admin_creates_a_client_and_sees_its_secret_once(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    form = text_of(client.get("/admin/clients/new"))
    assert 'value="600/minute"' in form
    created = client.post(
        "/admin/clients",
        data={
            "csrf_token": csrf_token(client),
            "name": "Booking frontend",
            "audiences": "booking, lobby",
            "rate_limit": "10/second",
        },
    )
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    page = text_of(created)
    secret = element(page, "client-secret")
    assert re.fullmatch(r"gwc_[0-9a-f]{12}\.[A-Za-z0-9_-]{40,}", secret)
    assert rooms_as(app, secret) == 200  # it works

    (stored,) = services_of(app).clients.all()
    assert stored.name == "Booking frontend" and stored.audiences == {"booking", "lobby"}
    assert stored.rate_limit == "10/second"
    listed = text_of(client.get("/admin/clients"))
    assert row_ids(listed, "client") == [stored.id]
    assert secret not in listed and secret.split(".")[1] not in listed  # never shown again
    assert secret not in services_of(app).redis.hget(f"gw:{{clients}}:{stored.id}", "secret_hash")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "name: String should have at least 1 character"),
        ({"name": "N" * 101}, "name"),
        ({"audiences": ""}, "at least one audience"),
        ({"audiences": "not a group"}, "is not a group name"),
        ({"rate_limit": "lots"}, "is not a rate limit"),
        ({"rate_limit": "0/minute"}, "at least one request"),
    ],
)
def test_a_refused_client_is_shown_on_the_form_with_the_values_kept(
    app: Flask, client: FlaskClient, bob: str, fields: dict[str, str], message: str
) -> None:
    sent = {"name": "Signage", "audiences": "lobby", "rate_limit": "60/minute", **fields}
    refused = client.post("/admin/clients", data={"csrf_token": csrf_token(client), **sent})
    assert refused.status_code == 400
    page = text_of(refused)
    assert message in element(page, "form-errors") and "Nothing was created" in page
    if "audiences" not in fields:
        assert 'value="lobby"' in page
    assert services_of(app).clients.all() == []


def test_a_name_that_is_markup_is_shown_as_text(app: Flask, client: FlaskClient, bob: str) -> None:
    token = csrf_token(client)
    created = client.post(
        "/admin/clients", data={"csrf_token": token, "name": XSS[:100], "audiences": "a"}
    )
    assert XSS[:30] not in text_of(created)
    assert XSS[:30] not in text_of(client.get("/admin/clients"))
    assert "&lt;script&gt;" in text_of(client.get("/admin/clients"))


def test_an_admin_disables_and_enables_a_client(app: Flask, client: FlaskClient, bob: str) -> None:
    found, secret = services_of(app).clients.create("Signage", audiences=["lobby"])
    token = csrf_token(client)
    assert rooms_as(app, secret) == 200
    done = client.post(f"/admin/clients/{found.id}/disable", data={"csrf_token": token})
    assert done.status_code == 303
    listed = text_of(client.get(done.headers["Location"]))
    assert "API client disabled" in listed
    assert element(listed, f"client-{found.id}").count("Disabled") == 1
    assert rooms_as(app, secret) == 401
    client.post(f"/admin/clients/{found.id}/enable", data={"csrf_token": token})
    assert rooms_as(app, secret) == 200
    assert (
        client.post("/admin/clients/000000000000/disable", data={"csrf_token": token}).status_code
        == 404
    )
    assert client.post("/admin/clients/../disable", data={"csrf_token": token}).status_code == 404


def test_only_admins_with_the_csrf_token_change_clients(
    app: Flask, client: FlaskClient, bob: str, alice: tuple[FlaskClient, str]
) -> None:
    found, secret = services_of(app).clients.create("Signage", audiences=["lobby"])
    browser, _ = alice
    member_token = csrf_token(browser)
    assert browser.get("/admin/clients/new").status_code == 403
    for path in ("/admin/clients", f"/admin/clients/{found.id}/disable"):
        sent = {"csrf_token": member_token, "name": "Mine", "audiences": "x"}
        assert browser.post(path, data=sent).status_code == 403, path
        refused = client.post(path, data={"name": "Mine", "audiences": "x"})  # no token
        assert refused.status_code == 400 and "did not come from this site" in text_of(refused)
    assert [c.id for c in services_of(app).clients.all()] == [found.id]
    assert rooms_as(app, secret) == 200


def test_a_client_may_be_given_rooms_by_id_as_the_cli_can(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    assert 'id="rooms"' in text_of(client.get("/admin/clients/new"))
    sent = {"name": "Signage", "audiences": "", "rooms": "lobby, atlas,lobby"}
    created = client.post("/admin/clients", data={"csrf_token": csrf_token(client), **sent})
    assert created.status_code == 200
    assert element(text_of(created), "client").count("atlas, lobby") == 1
    (stored,) = services_of(app).clients.all()
    assert stored.rooms == {"atlas", "lobby"} and stored.audiences == set()

    bad = {**sent, "rooms": "Not A Room"}
    refused = client.post("/admin/clients", data={"csrf_token": csrf_token(client), **bad})
    assert refused.status_code == 400
    page = text_of(refused)
    assert "is not a room id" in element(page, "form-errors")
    assert 'value="Not A Room"' in page  # what was typed is kept
    assert len(services_of(app).clients.all()) == 1


def test_an_admin_deletes_a_client_after_confirming(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    found, secret = services_of(app).clients.create("Signage", audiences=["lobby"])
    listed = text_of(client.get("/admin/clients"))
    assert f'href="/admin/clients/{found.id}/delete"' in listed
    asked = client.get(f"/admin/clients/{found.id}/delete")
    assert asked.status_code == 200
    question = text_of(asked)
    assert "Delete the API client Signage?" in question and "Its secret is refused" in question
    assert 'href="/admin/clients" id="cancel"' in question  # back to the list, not /account
    assert rooms_as(app, secret) == 200  # asking changes nothing

    token = csrf_token(client)
    done = client.post(f"/admin/clients/{found.id}/delete", data={"csrf_token": token})
    assert done.status_code == 303
    assert "API client deleted" in text_of(client.get(done.headers["Location"]))
    assert services_of(app).clients.all() == [] and rooms_as(app, secret) == 401
    audit = services_of(app).audit
    trail = audit.entries(subject=f"client:{found.id}", action="api_client.delete")
    assert [e.actor for e in trail] == [audit.pseudonym(bob)]
    again = client.post(f"/admin/clients/{found.id}/delete", data={"csrf_token": token})
    assert again.status_code == 404
    assert client.get("/admin/clients/000000000000/delete").status_code == 404


def test_only_admins_with_the_csrf_token_delete_clients(
    app: Flask, client: FlaskClient, bob: str, alice: tuple[FlaskClient, str]
) -> None:
    found, secret = services_of(app).clients.create("Signage", audiences=["lobby"])
    browser, _ = alice
    path = f"/admin/clients/{found.id}/delete"
    assert browser.get(path).status_code == 403
    assert browser.post(path, data={"csrf_token": csrf_token(browser)}).status_code == 403
    assert client.post(path).status_code == 400  # no token
    assert rooms_as(app, secret) == 200

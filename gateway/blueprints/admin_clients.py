"""API clients created, disabled, enabled and deleted by an admin in the browser.

The secret is on the one page that answers the creation (never cached, never stored: only
its keyed hash is) and nowhere after. A refusal re-shows the form with what was typed (400),
and nothing is created. A deletion is asked about first (the shared confirmation page).
Every POST carries the CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.blueprints.guards import admin_required, signed_in_uid
from gateway.context import services
from gateway.errors import error_response
from gateway.services.api_clients import DEFAULT_RATE_LIMIT, ApiClientError, ClientNotFound
from gateway.services.change_feed import InvalidWebhook

admin_clients = Blueprint("admin_clients", __name__, url_prefix="/admin/clients")
TEXT_MAX = 2000


def _form(values: dict[str, str], error: str | None = None, status: int = 200) -> tuple[str, int]:
    known = services().directory.audiences()
    page = render_template("admin_client_form.html", values=values, error=error, known=known)
    return page, status


@admin_clients.get("/new")
@admin_required
def new() -> tuple[str, int]:
    return _form({"name": "", "audiences": "", "rooms": "", "rate_limit": DEFAULT_RATE_LIMIT})


@admin_clients.post("")
@admin_required
def create() -> Response | tuple[str, int]:
    fields = ("name", "audiences", "rooms", "rate_limit")
    values = {k: request.form.get(k, "")[:TEXT_MAX].strip() for k in fields}
    try:
        client, secret = services().clients.create(
            values["name"],
            audiences=_listed(values["audiences"]),
            rooms=_listed(values["rooms"]),
            rate_limit=values["rate_limit"] or DEFAULT_RATE_LIMIT,
            actor=signed_in_uid(),
        )
    except ApiClientError as error:
        return _form(values, error.message, 400)
    page = render_template("admin_client_created.html", client=client, secret=secret)
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # the secret stays in no cache
    return response


@admin_clients.post("/<client_id>/disable")
@admin_required
def disable(client_id: str) -> Response:
    services().clients.disable(client_id, actor=signed_in_uid())
    return redirect(url_for("admin_lists.clients", done="client-disabled"), code=303)


@admin_clients.post("/<client_id>/enable")
@admin_required
def enable(client_id: str) -> Response:
    services().clients.enable(client_id, actor=signed_in_uid())
    return redirect(url_for("admin_lists.clients", done="client-enabled"), code=303)


@admin_clients.get("/<client_id>/delete")
@admin_required
def confirm_delete(client_id: str) -> str:
    client = services().clients.require(client_id)
    return render_template(
        "confirm.html",
        title=f"Delete the API client {client.name}?",
        area="Admin",
        lead="This cannot be undone.",
        consequences=[
            "Its secret is refused from now on: the program using it no longer reads rooms "
            "or free/busy.",
            "To let the program in again, add a new client and give it the new secret.",
        ],
        action=url_for("admin_clients.delete", client_id=client.id),
        button="Delete the API client",
        button_id="delete-client",
        cancel=url_for("admin_lists.clients"),
    )


@admin_clients.post("/<client_id>/delete")
@admin_required
def delete(client_id: str) -> Response:
    services().clients.delete(client_id, actor=signed_in_uid())
    return redirect(url_for("admin_lists.clients", done="client-deleted"), code=303)


# -- the change feed: the client's webhook and its delivery log (services/change_feed.py) ----
def _webhook_page(
    client_id: str, url: str = "", error: str | None = None, status: int = 200
) -> tuple[str, int]:
    feed = services().change_feed
    page = render_template(
        "admin_client_webhook.html",
        client=services().clients.require(client_id),
        endpoint=feed.endpoint(client_id),
        deliveries=feed.deliveries(client_id),
        url=url,
        error=error,
    )
    return page, status


@admin_clients.get("/<client_id>/webhook")
@admin_required
def webhook(client_id: str) -> tuple[str, int]:
    return _webhook_page(client_id)


@admin_clients.post("/<client_id>/webhook")
@admin_required
def set_webhook(client_id: str) -> Response | tuple[str, int]:
    client = services().clients.require(client_id)
    url = request.form.get("url", "")[:TEXT_MAX].strip()
    try:
        secret = services().change_feed.register(client_id, url, actor=signed_in_uid())
    except InvalidWebhook as error:
        return _webhook_page(client_id, url, error.message, 400)
    page = render_template("admin_client_webhook_set.html", client=client, url=url, secret=secret)
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # the secret stays in no cache
    return response


@admin_clients.post("/<client_id>/webhook/delete")
@admin_required
def remove_webhook(client_id: str) -> Response:
    services().change_feed.remove(client_id, actor=signed_in_uid())
    return redirect(url_for("admin_clients.webhook", client_id=client_id), code=303)


def _listed(text: str) -> list[str]:
    """A field of names separated by commas, as the CLI's repeated options."""
    return [item.strip() for item in text.split(",") if item.strip()]


@admin_clients.errorhandler(ClientNotFound)
def not_found(error: ClientNotFound) -> tuple[Response | str, int]:
    return error_response(error.status, error.code, error.message)

"""API clients created, disabled and enabled by an admin in the browser.

The secret is on the one page that answers the creation (never cached, never stored: only
its keyed hash is) and nowhere after. A refusal re-shows the form with what was typed (400),
and nothing is created. Every POST carries the CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.blueprints.guards import admin_required, signed_in_uid
from gateway.context import services
from gateway.errors import error_response
from gateway.services.api_clients import DEFAULT_RATE_LIMIT, ApiClientError, ClientNotFound

admin_clients = Blueprint("admin_clients", __name__, url_prefix="/admin/clients")
TEXT_MAX = 2000


def _form(values: dict[str, str], error: str | None = None, status: int = 200) -> tuple[str, int]:
    known = services().directory.audiences()
    page = render_template("admin_client_form.html", values=values, error=error, known=known)
    return page, status


@admin_clients.get("/new")
@admin_required
def new() -> tuple[str, int]:
    return _form({"name": "", "audiences": "", "rate_limit": DEFAULT_RATE_LIMIT})


@admin_clients.post("")
@admin_required
def create() -> Response | tuple[str, int]:
    values = {k: request.form.get(k, "")[:TEXT_MAX].strip() for k in ("name", "audiences")}
    values["rate_limit"] = request.form.get("rate_limit", "")[:TEXT_MAX].strip()
    audiences = [a.strip() for a in values["audiences"].split(",") if a.strip()]
    try:
        client, secret = services().clients.create(
            values["name"],
            audiences=audiences,
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


@admin_clients.errorhandler(ClientNotFound)
def not_found(error: ClientNotFound) -> tuple[Response | str, int]:
    return error_response(error.status, error.code, error.message)

"""Consent pages: the gateway's own screen before any calendar scope is asked for."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request
from werkzeug.wrappers import Response

from gateway.blueprints.auth import keep_pending, pending_flows
from gateway.blueprints.guards import signed_in_uid
from gateway.context import services

consent = Blueprint("consent", __name__, url_prefix="/consent")


def _provider() -> str:
    return (request.values.get("provider") or "").strip()


@consent.get("/<purpose>")
def show(purpose: str) -> str:
    uid = signed_in_uid()
    found = services().consent
    offer = found.offer(purpose, _provider())
    return render_template(
        "consent.html",
        offer=offer,
        given=found.is_current(uid, purpose, offer.provider),
        legal_basis=found.catalogue.legal_bases[offer.purpose.legal_basis],
    )


@consent.post("/<purpose>")
def give(purpose: str) -> Response:
    uid = signed_in_uid()
    provider, found = _provider(), services()
    scopes = found.consent.scopes_to_ask(uid, purpose, provider)
    started = found.signin.start(
        provider, "/account", pending_flows(), link_uid=uid, purpose=purpose, scopes=scopes
    )
    return keep_pending(redirect(started.url, code=303), started.pending)


@consent.get("/<purpose>/incomplete")
def incomplete(purpose: str) -> tuple[str, int]:
    uid = signed_in_uid()
    found = services().consent
    offer = found.offer(purpose, _provider())
    refusal = found.last_refusal(uid, purpose, offer.provider)
    return render_template("consent_incomplete.html", offer=offer, refusal=refusal), 200


@consent.post("/<purpose>/withdraw")
def withdraw(purpose: str) -> Response:
    uid = signed_in_uid()
    services().consent.withdraw(uid, purpose, _provider())
    return redirect("/account", code=303)

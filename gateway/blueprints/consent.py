"""Consent pages: the gateway's own screen before any calendar scope is asked for."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, flash, redirect, render_template, request
from werkzeug.wrappers import Response

from gateway.blueprints.auth import keep_pending, pending_flows
from gateway.blueprints.guards import signed_in_uid
from gateway.context import services
from gateway.services.consent_offers import ConsentError
from gateway.services.signin import safe_next

consent = Blueprint("consent", __name__, url_prefix="/consent")


def _provider() -> str:
    return (request.values.get("provider") or "").strip()


@consent.get("/<purpose>")
def show(purpose: str) -> str:
    uid = signed_in_uid()
    return _page(uid, purpose, request.args, preset_only=True)


def _page(
    uid: str, purpose: str, typed: Mapping[str, str], error: str = "", preset_only: bool = False
) -> str:
    """The consent page; for a typed credential, its form again with what was typed (never
    a password or another secret field), or with a preset's URL that a preset link put in
    the query."""
    found = services().consent
    offer = found.offer(purpose, _provider())
    presets = {url for _, url in offer.presets}
    values = {
        f.name: str(typed.get(f.name) or "")
        for f in offer.fields
        if f.input_type != "password"
        and not f.secret
        and (not preset_only or (f.input_type == "url" and typed.get(f.name) in presets))
    }
    return render_template(
        "consent.html",
        offer=offer,
        given=found.is_current(uid, purpose, offer.provider),
        legal_basis=found.catalogue.legal_bases[offer.purpose.legal_basis],
        typed=values,
        error=error,
    )


@consent.post("/<purpose>")
def give(purpose: str) -> Response | tuple[str, int]:
    uid = signed_in_uid()
    provider, found = _provider(), services()
    if found.consent.takes_typed_credential(provider):
        try:
            next_path = found.consent.connect_typed(uid, purpose, provider, request.form)
        except ConsentError as refused:
            if refused.code in ("not_offered", "unknown_purpose", "requires_other_purpose"):
                raise
            return _page(uid, purpose, request.form, refused.message), refused.status
        if "/incomplete" not in next_path:
            title = found.signin.connectors[provider].title
            what = found.consent.catalogue.purpose(purpose).title
            flash(f"Consent given: “{what}” with {title}. You can withdraw it here at any time.")
        return redirect(safe_next(next_path), code=303)  # one of ours; checked anyway
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


@consent.get("/<purpose>/withdraw")
def confirm_withdraw(purpose: str) -> Response | str:
    """The confirmation step before a withdrawal (a page: the CSP allows no script)."""
    uid = signed_in_uid()
    found = services().consent
    offer = found.offer(purpose, _provider())
    if not found.is_given(uid, purpose, offer.provider):
        flash("That consent is not in force: there is nothing to withdraw.", "warning")
        return redirect("/account", code=303)
    dependants = [
        p.title
        for p in found.catalogue.purposes
        if purpose in p.requires and found.is_given(uid, p.id, offer.provider)
    ]
    consequences = [
        f"Any {offer.provider_title} calendar access given for it ends: its tokens and every "
        "cached busy time are deleted at once, and the provider is asked to revoke it where "
        "it offers that.",
        "Rooms connected to that calendar show “no calendar connected”.",
        "Earlier processing stays lawful; the consent history keeps the record.",
    ]
    if dependants:
        consequences.append("Also withdrawn, as they depend on it: " + ", ".join(dependants) + ".")
    return render_template(
        "confirm.html",
        title=f"Withdraw your consent to “{offer.purpose.title}”?",
        lead=f"With {offer.provider_title}. You can give it again later.",
        consequences=consequences,
        action=f"/consent/{offer.purpose.id}/withdraw",
        fields=[("provider", offer.provider)],
        checkbox=None,
        button="Yes, withdraw",
        button_id="confirm",
    )


@consent.post("/<purpose>/withdraw")
def withdraw(purpose: str) -> Response:
    uid = signed_in_uid()
    found = services().consent
    offer = found.offer(purpose, _provider())
    given = found.is_given(uid, purpose, offer.provider)
    if not found.withdraw(uid, purpose, offer.provider) and not given:
        flash("That consent was not in force: nothing more was done.", "warning")
        return redirect("/account", code=303)
    return redirect("/account?done=withdrawn", code=303)  # no session write: notices.py

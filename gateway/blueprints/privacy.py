"""Your data: export it, restrict its processing, disconnect a grant, erase everything."""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from werkzeug.wrappers import Response as BaseResponse

from gateway.blueprints.guards import signed_in_uid
from gateway.blueprints.notices import done_notice
from gateway.blueprints.pages import reader_zone
from gateway.context import services
from gateway.crypto.receipt_keys import JWKS_PATH
from gateway.crypto.receipts import ReceiptInvalid
from gateway.services.consent import GRANT_ID
from gateway.services.grants import ACTIVE

privacy = Blueprint("privacy", __name__)
privacy.app_context_processor(done_notice)


@privacy.get("/v1/me/export")
def export() -> Response:
    uid = signed_in_uid()
    try:
        document = services().privacy.export(uid)
    except LookupError:  # no such user, or a profile that no longer opens: signed out
        session.clear()
        abort(401, "Sign in first.")
    response = Response(json.dumps(document, indent=2), mimetype="application/json")
    if request.args.get("download"):
        response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response


@privacy.delete("/v1/me")
def erase_json() -> Response:
    uid = signed_in_uid()
    receipt = services().privacy.erase(uid, actor=uid)
    session.clear()
    return jsonify(receipt)


@privacy.post("/v1/me/restriction")
def restriction_json() -> Response:
    uid = signed_in_uid()
    body = request.get_json(silent=True)
    if (
        not isinstance(body, dict)
        or set(body) != {"restricted"}
        or not isinstance(body["restricted"], bool)
    ):
        abort(400, 'Send {"restricted": true} or {"restricted": false}.')
    services().privacy.restrict(uid, body["restricted"], actor=uid)
    return jsonify(restricted=body["restricted"])


@privacy.post("/account/restriction")
def restriction_form() -> BaseResponse:
    uid = signed_in_uid()
    paused = request.form.get("restricted") == "1"
    services().privacy.restrict(uid, paused, actor=uid)
    if paused:
        flash("Processing paused: no calendar of yours is read, and your rooms show as paused.")
    else:
        flash("Processing resumed: your connected rooms show their busy times again.")
    return redirect("/account", code=303)


@privacy.get("/account/grants/<gid>/disconnect")
def confirm_disconnect(gid: str) -> BaseResponse | str:
    """The confirmation step (no script needed): what disconnecting ends, then one button."""
    uid = signed_in_uid()
    found = services()
    grant = found.grants.get(uid, gid) if GRANT_ID.match(gid) else None
    if grant is None:
        abort(404, "No such grant of yours.")
    if grant.status != ACTIVE:
        flash("That calendar access has already ended: there is nothing to disconnect.", "warning")
        return redirect("/account", code=303)
    titles = {name: c.title for name, c in found.signin.connectors.items()}
    provider = titles.get(grant.provider, grant.provider)
    purpose = found.consent.catalogue.purpose(grant.purpose).title
    rooms = [b.room_name for b in found.rooms.bindings_of(uid) if b.grant_id == gid]
    consequences = [
        f"The gateway stops reading your {provider} calendar for “{purpose}”: its tokens and "
        "every cached busy time are deleted at once, and the provider is asked to revoke "
        "the access where it offers that.",
        "The consent you gave for it is withdrawn too, with any consent that depends on it; "
        "the consent history keeps the record.",
    ]
    if rooms:
        consequences.append(
            "These rooms then show “no calendar connected” until you connect one again: "
            + ", ".join(rooms)
            + "."
        )
    return render_template(
        "confirm.html",
        title=f"Disconnect your {provider} calendar?",
        lead="Disconnecting ends this calendar access. You can connect again later.",
        consequences=consequences,
        action=f"/account/grants/{gid}/disconnect",
        fields=[],
        checkbox=None,
        button="Yes, disconnect",
        button_id="confirm",
    )


@privacy.post("/account/grants/<gid>/disconnect")
def disconnect(gid: str) -> BaseResponse:
    uid = signed_in_uid()
    found = services()
    grant = found.grants.get(uid, gid) if GRANT_ID.match(gid) else None
    if grant is not None and grant.status != ACTIVE:
        flash("That calendar access had already ended: nothing more was done.", "warning")
        return redirect("/account", code=303)
    if not found.consent.disconnect(uid, gid):  # also withdraws the consent it ends
        abort(404, "No such grant of yours.")
    return redirect("/account?done=disconnected", code=303)  # no session write: notices.py


@privacy.get("/account/erase")
def confirm_erase() -> str:
    signed_in_uid()
    return render_template(
        "confirm.html",
        title="Erase your account?",
        lead="This cannot be undone.",
        consequences=[
            "Your profile, identities and linked accounts are deleted, and you are signed "
            "out everywhere.",
            "Every calendar access you gave ends: tokens and cached busy times are deleted "
            "and the provider asked to revoke them where it offers that.",
            "Your consents end and the rooms you host show “no calendar connected”.",
            "Pseudonymous audit records about you stay, as the law requires; the signed "
            "receipt you get says how many.",
        ],
        action="/account/erase",
        fields=[("tz", reader_zone(request.args.get("tz", "")).key)],
        checkbox={"value": "erase", "label": "Erase my account and everything about me"},
        button="Erase my account",
        button_id="erase",
    )


@privacy.post("/account/erase")
def erase_form() -> str:
    uid = signed_in_uid()
    if request.form.get("confirm") != "erase":
        abort(400, "Tick the box to confirm that everything about you should be erased.")
    zone = reader_zone(request.form.get("tz", ""))  # before anything is erased
    found = services()
    receipt = found.privacy.erase(uid, actor=uid)
    session.clear()
    return render_template(
        "erased.html",
        receipt=json.dumps(receipt, indent=2),
        readable=found.receipts.readable(receipt, zone),
        jwks_url=found.settings.public_url + JWKS_PATH,
    )


def _receipt_download(receipt: dict[str, Any]) -> Response:
    response = Response(json.dumps(receipt, indent=2, sort_keys=True), mimetype="application/json")
    name = "".join(c for c in str(receipt.get("receipt", "")) if c.isalnum() or c in "-_")
    response.headers["Content-Disposition"] = f'attachment; filename="receipt-{name}.json"'
    return response


@privacy.get("/account/receipts/<receipt_id>")
def download_receipt(receipt_id: str) -> Response:
    """One of your receipts as a file: its fields, and the JWS that signs them."""
    uid = signed_in_uid()
    receipt = services().receipts.find(uid, receipt_id)
    if receipt is None:
        abort(404, "No such receipt of yours.")
    return _receipt_download(receipt)


@privacy.post("/receipts/download")
def download_shown_receipt() -> Response:
    """The receipt the erased page shows, as a file: the account it was in is gone, so the
    page sends it back; only a receipt whose signature holds is returned (nothing else is
    echoed, and nothing is stored)."""
    try:
        receipt = json.loads(request.form.get("receipt", ""))
    except ValueError:
        abort(400, "That is not a receipt.")
    if not isinstance(receipt, dict):
        abort(400, "That is not a receipt.")
    try:
        services().receipts.verify(receipt)
    except ReceiptInvalid:
        abort(400, "That receipt does not match its signature.")
    return _receipt_download(receipt)

"""Your data: export it, restrict its processing, disconnect a grant, erase everything."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, session
from werkzeug.wrappers import Response as BaseResponse

from gateway.blueprints.guards import signed_in_uid
from gateway.context import services

privacy = Blueprint("privacy", __name__)


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
    services().privacy.restrict(uid, request.form.get("restricted") == "1", actor=uid)
    return redirect("/account", code=303)


@privacy.post("/account/grants/<gid>/disconnect")
def disconnect(gid: str) -> BaseResponse:
    uid = signed_in_uid()
    if not services().consent.disconnect(uid, gid):  # also withdraws the consent it ends
        abort(404, "No such grant of yours.")
    return redirect("/account", code=303)


@privacy.post("/account/erase")
def erase_form() -> str:
    uid = signed_in_uid()
    if request.form.get("confirm") != "erase":
        abort(400, "Tick the box to confirm that everything about you should be erased.")
    receipt = services().privacy.erase(uid, actor=uid)
    session.clear()
    return render_template("erased.html", receipt=json.dumps(receipt, indent=2))

"""The admin console: find users and rooms, revoke integrations with a reason, read the audit.

Every page needs an admin session (401 without one, 403 for anyone else); every form is a
CSRF-protected POST. The reason an admin gives becomes the grant's `reason`, which the
affected user reads on their account page, so it is mandatory. The actor recorded in the
audit trail is the admin's own user id (pseudonymised there like everyone's). Opening a
person's profile, a room's page (its host and calendar) or the audit records about one
person is itself one audit record: an access to someone else's data.
"""

from __future__ import annotations

import json
import time
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.blueprints.guards import admin_required, signed_in_uid
from gateway.context import services
from gateway.services.grants import REVOKED
from gateway.services.room_model import ROOM_ID, USER_ID

admin = Blueprint("admin", __name__, url_prefix="/admin")

REASON_MAX = 500
AUDIT_LIMIT, AUDIT_LIMIT_MAX = 50, 1000


def _reason() -> str:
    """The reason the affected user will read; a revocation without one is refused."""
    reason = " ".join(request.form.get("reason", "").split())
    if not reason:
        abort(400, "Give a reason: the user reads it on their account page. Nothing was revoked.")
    if len(reason) > REASON_MAX:
        abort(400, f"Keep the reason under {REASON_MAX} characters. Nothing was revoked.")
    return reason


def _receipts_page(title: str, receipts: list[dict[str, Any]], back: str) -> str:
    """The receipts an admin action wrote, in words as their owner reads them (dates in
    UTC), each with its signed JSON document behind a details element."""
    found, titles = services(), _titles()
    purposes = {p.id: p.title for p in found.consent.catalogue.purposes}
    shown = [
        (
            found.receipts.readable(
                r, ZoneInfo("UTC"), lambda p: titles.get(p, p), lambda p: purposes.get(p, p)
            ),
            json.dumps(r, indent=2, sort_keys=True),
        )
        for r in receipts
    ]
    return render_template("admin_receipts.html", title=title, receipts=shown, back=back)


def _titles() -> dict[str, str]:
    return {name: c.title for name, c in services().signin.connectors.items()}


def _key_ring() -> list[dict[str, Any]]:
    """One row per key version: configured or still in use, with its marks."""
    found = services()
    ring = found.settings.keyring
    usage, retired = found.key_rotation.usage(), found.key_rotation.retired()
    return [
        {
            "version": version,
            "count": usage.get(version, 0),
            "newest": version == ring.newest,
            "retired": version in retired,
            "configured": version in ring.versions,
        }
        for version in dict.fromkeys([*ring.versions, *usage])
    ]


@admin.get("")
@admin_required
def console() -> Response | tuple[str, int]:
    """Search forms (GET, so no token needed), the key ring and links to the audit trail."""
    found, args, notice = services(), request.args, None
    uid, room_id = args.get("uid", "").strip(), args.get("room", "").strip()
    provider, subject = args.get("provider", "").strip(), args.get("subject", "").strip()
    if uid:
        if USER_ID.match(uid) and found.users.get(uid):
            return redirect(url_for("admin.user", uid=uid), code=303)
        notice = "No user has that id."
    elif provider or subject:
        owner = found.users.owner_of(provider, subject) if provider and subject else None
        if owner:
            return redirect(url_for("admin.user", uid=owner), code=303)
        notice = "No user has signed in with that provider account."
    elif room_id:
        if found.rooms.get(room_id):
            return redirect(url_for("admin.room", room_id=room_id), code=303)
        notice = "There is no room with that id."
    page = render_template(
        "admin_console.html",
        notice=notice,
        providers=_titles(),
        key_ring=_key_ring(),
        broken_rooms=found.health.broken_rooms(),
    )
    return page, 404 if notice else 200


@admin.get("/users/<uid>")
@admin_required
def user(uid: str) -> str:
    found = services()
    shown = found.users.get(uid) if USER_ID.match(uid) else None
    if shown is None:
        abort(404, "No user has that id.")
    found.audit.record(actor=signed_in_uid(), action="user.view", subject=uid)
    return render_template(
        "admin_user.html",
        user=shown,
        titles=_titles(),
        purposes={p.id: p.title for p in found.consent.catalogue.purposes},
        grants=found.grants.list(uid),
        bindings=found.rooms.bindings_of(uid),
        in_force=found.consent.in_force(uid),
        revoked=REVOKED,
    )


@admin.post("/users/<uid>/grants/<gid>/revoke")
@admin_required
def revoke_grant(uid: str, gid: str) -> str:
    reason = _reason()
    if not USER_ID.match(uid) or services().grants.get(uid, gid) is None:
        abort(404, "That user has no such grant.")
    receipt = services().revocation.revoke_grant(uid, gid, reason=reason, actor=signed_in_uid())
    back = url_for("admin.user", uid=uid)
    return _receipts_page("Grant revoked", [receipt] if receipt else [], back)


@admin.post("/users/<uid>/revoke")
@admin_required
def revoke_user(uid: str) -> str:
    reason = _reason()
    found = services()
    if not USER_ID.match(uid) or found.users.get(uid) is None:
        abort(404, "No user has that id.")
    actor = signed_in_uid()
    receipts = found.revocation.revoke_user(uid, reason=reason, actor=actor)
    if request.form.get("end_sessions") == "1":
        found.signin.sign_out_everywhere(uid, actor)
    return _receipts_page(
        "Every integration of the user revoked", receipts, url_for("admin.user", uid=uid)
    )


@admin.get("/rooms/<room_id>")
@admin_required
def room(room_id: str) -> str:
    found = services()
    shown = found.rooms.get(room_id)
    if shown is None:
        abort(404, "There is no room with that id.")
    found.audit.record(
        actor=signed_in_uid(),
        action="room.view",
        subject=shown.host or "",
        detail={"room": room_id},
    )
    bindings = found.rooms.bindings(room_id)
    return render_template(
        "admin_room.html",
        room=shown,
        bindings=bindings,
        grants=list(dict.fromkeys((b.uid, b.gid, b.provider) for b in bindings)),
        titles=_titles(),
        updates=found.watches.room_updates(room_id),
    )


@admin.post("/rooms/<room_id>/revoke")
@admin_required
def revoke_room(room_id: str) -> str:
    reason = _reason()
    found = services()
    if found.rooms.get(room_id) is None:
        abort(404, "There is no room with that id.")
    bindings = found.rooms.bindings(room_id)
    if not bindings:
        abort(409, "This room is not connected to an active grant: there is nothing to revoke.")
    # a room backed by calendars of several grants: the form names the one to end
    asked = request.form.get("grant", "").strip() or bindings[0].gid
    binding = next((b for b in bindings if b.gid == asked), None)
    if binding is None:
        abort(400, "That grant is not behind this room. Nothing was revoked.")
    receipt = found.revocation.revoke_grant(
        binding.uid, binding.gid, reason=reason, actor=signed_in_uid()
    )
    back = url_for("admin.room", room_id=room_id)
    return _receipts_page("The room's grant revoked", [receipt] if receipt else [], back)


@admin.post("/providers/<provider>/revoke")
@admin_required
def revoke_provider(provider: str) -> str:
    reason = _reason()
    if not ROOM_ID.match(provider):  # provider names are slugs too
        abort(404, "There is no such provider.")
    if request.form.get("confirm", "").strip() != provider:
        abort(400, f"Type the provider's name ({provider}) to confirm. Nothing was revoked.")
    revocation = services().revocation
    started = round(time.time(), 3)
    swept = revocation.grants_of_provider(provider)
    count = revocation.revoke_provider(provider, reason=reason, actor=signed_in_uid())
    # the receipts this sweep wrote: the newest of each swept grant's owner, from now on
    gids = {gid for _, gid in swept}
    receipts = [
        r
        for uid in dict.fromkeys(uid for uid, _ in swept)
        for r in revocation.receipts(uid)
        if r.get("grant") in gids and float(r.get("at", 0)) >= started
    ]
    title = f"{count} grant(s) of {provider} revoked"
    return _receipts_page(title, receipts, url_for("admin.console"))


@admin.get("/audit")
@admin_required
def audit() -> str:
    """Newest first; user and actor filters are user ids, pseudonymised before matching."""
    trail, args = services().audit, request.args
    try:
        limit = int(args.get("limit") or AUDIT_LIMIT)
    except ValueError:
        abort(400, f"The limit must be a whole number from 1 to {AUDIT_LIMIT_MAX}.")
    if not 1 <= limit <= AUDIT_LIMIT_MAX:
        abort(400, f"The limit must be a whole number from 1 to {AUDIT_LIMIT_MAX}.")
    action = args.get("action", "").strip()
    subject, actor = args.get("user", "").strip(), args.get("actor", "").strip()
    entries = trail.entries(
        subject=subject or None, actor=actor or None, action=action or None, limit=limit
    )
    if subject:
        trail.record(
            actor=signed_in_uid(),
            action="audit.read",
            subject=subject,
            detail={"shown": len(entries)},
        )
    more = None
    if len(entries) == limit and limit < AUDIT_LIMIT_MAX:
        wanted = {"action": action, "user": subject, "actor": actor}
        more_args: dict[str, Any] = {k: v for k, v in wanted.items() if v}
        more = url_for("admin.audit", **more_args, limit=min(limit * 2, AUDIT_LIMIT_MAX))
    return render_template(
        "admin_audit.html",
        entries=entries,
        action=action,
        user=subject,
        actor=actor,
        limit=limit,
        user_pseudonym=trail.pseudonym(subject) if subject else None,
        actor_pseudonym=trail.pseudonym(actor) if actor else None,
        more=more,
    )

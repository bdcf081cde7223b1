"""Pages for people: the landing page with the sign-in choices and the account page."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from gateway.blueprints.guards import is_admin
from gateway.context import services
from gateway.crypto.receipt_keys import JWKS_PATH
from gateway.services.endings import explain
from gateway.services.receipts import in_zone
from gateway.services.room_hours import time_zones
from gateway.services.watch_states import UPDATES

pages = Blueprint("pages", __name__)


@pages.get("/")
def landing() -> str:
    signin = services().signin
    providers = [(n, c.title) for n, c in signin.connectors.items() if c.capabilities.sign_in]
    return render_template("landing.html", providers=providers, signed_in="uid" in session)


@pages.app_template_filter("in_zone")
def in_zone_filter(timestamp: float | None, zone: str, seconds: bool = False) -> str:
    """`{{ moment | in_zone(tz) }}`: the account pages show every date in the chosen zone."""
    return in_zone(timestamp, ZoneInfo(zone or "UTC"), seconds=seconds)


def reader_zone(raw: str) -> ZoneInfo:
    """The zone the person chose to read dates in (`?tz=`, an IANA name); UTC by default.
    A page cannot ask the browser for its zone: the CSP runs no script."""
    raw = raw.strip()
    if not raw:
        return ZoneInfo("UTC")
    if raw not in time_zones():
        abort(400, "the time zone must be an IANA name such as Europe/London")
    return ZoneInfo(raw)


@pages.get("/account")
def account() -> Response | str:
    zone = reader_zone(request.args.get("tz", ""))
    uid = session.get("uid")
    user = services().users.get(uid) if uid else None
    if user is None:
        session.clear()
        return redirect(url_for("pages.landing"), code=303)
    signin = services().signin
    linked = {i.provider for i in user.identities}
    titles = {name: c.title for name, c in signin.connectors.items()}
    linkable = [
        (name, c.title)
        for name, c in signin.connectors.items()
        if c.capabilities.sign_in and name not in linked
    ]
    found = services()
    catalogue = found.consent.catalogue
    grants = found.grants.list(user.id)
    in_force = found.consent.in_force(user.id)
    given = {(c.purpose, c.provider) for c in in_force}
    purpose_ids = {p.id for p in catalogue.purposes}
    return render_template(
        "account.html",
        user=user,
        titles=titles,
        revoke_hints={n: c.revoke_hint for n, c in signin.connectors.items() if c.revoke_hint},
        linkable=linkable,
        grants=grants,
        grant_by_id={grant.id: grant for grant in grants},
        purposes={p.id: p.title for p in catalogue.purposes},
        in_force=in_force,
        endings={
            g.id: explain(
                g.status,
                g.reason,
                titles.get(g.provider, g.provider),
                signin.connectors[g.provider].capabilities.can_revoke
                if g.provider in signin.connectors
                else False,
            )
            for g in grants
        },
        history=list(reversed(found.consent.history(user.id))),
        # nothing already given is offered again (a consent in force whose access ended
        # says so, with its own "Connect again", in the consents list); a typed credential
        # (app password) needs no sign-in with its provider first
        offers=[
            o
            for o in found.consent.offers_for(user.id)
            if (o.provider in linked or o.fields) and (o.purpose.id, o.provider) not in given
        ],
        is_admin=is_admin(),
        bindings=found.rooms.bindings_of(user.id),
        # watched or polled, per calendar, and the grants offered the consent that watches
        updates=found.watches.updates_of(user.id),
        update_texts=UPDATES,
        upgradable=found.watches.upgradable(user.id),
        reconnect_ids={r.grant_id for r in found.health.needing_reconnect(user.id)},
        restricted=found.privacy.restricted_since(user.id) is not None,
        disk=found.disk_scrub.of_receipts(found.revocation.receipts(user.id)[:5]),
        disk_bound=int(found.settings.disk_scrub_seconds),
        # receipts in the reader's zone, and who asked for the busy times of their rooms
        receipts=[
            found.receipts.readable(
                r,
                zone,
                lambda p: titles.get(p, p),
                lambda p: catalogue.purpose(p).title if p in purpose_ids else p,
            )
            for r in found.receipts.of(user.id)
        ],
        tz=zone.key,
        zones=sorted(time_zones()),
        jwks_url=found.settings.public_url + JWKS_PATH,
        room_access=found.receipts.room_access(user.id),
    )

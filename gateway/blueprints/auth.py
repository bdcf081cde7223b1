"""Sign-in routes. Each provider has its own callback path (mix-up defence, RFC 9207).

Pending flows ride in the flow cookie, sealed (services/signin.py); a sign-in start writes
no session, so a visitor who never comes back costs Redis nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, session, url_for
from werkzeug.wrappers import Response

from gateway.context import services
from gateway.request_log import security_event
from gateway.services.signin import SignedIn
from gateway.services.signin_errors import SignInError

auth = Blueprint("auth", __name__, url_prefix="/auth")
MAX_MARKS = 16  # identity marks a session keeps (two per identity proved in it)


def flow_cookie_name() -> str:
    return "__Host-gw_signin" if services().settings.secure_cookies else "gw_signin"


def pending_flows() -> str | None:
    """The browser's flow cookie (sealed pending flows), as it came."""
    return request.cookies.get(flow_cookie_name())


def keep_pending(response: Response, pending: str | None) -> Response:
    """Set the flow cookie to `pending`, or delete it when no flow is left. HttpOnly,
    SameSite=Lax (it must come back on the provider's top-level redirect), Path=/ and
    Secure outside local development, as `__Host-` asks; it lives as long as a flow."""
    secure = services().settings.secure_cookies
    if pending is None:
        response.delete_cookie(
            flow_cookie_name(), path="/", secure=secure, httponly=True, samesite="Lax"
        )
    else:
        response.set_cookie(
            flow_cookie_name(),
            pending,
            max_age=services().signin.flows.ttl_seconds,
            path="/",
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
    return response


@auth.get("/login/<provider>")
def login(provider: str) -> Response:
    started = services().signin.start(provider, request.args.get("next"), pending_flows())
    return keep_pending(redirect(started.url, code=302), started.pending)


@auth.post("/link/<provider>")
def link(provider: str) -> Response:
    """Start linking another provider to the signed-in user (a CSRF-protected form)."""
    uid = session.get("uid")
    if not uid:
        abort(401, "Sign in first, then link another account.")
    started = services().signin.start(provider, "/account", pending_flows(), link_uid=uid)
    return keep_pending(redirect(started.url, code=303), started.pending)


@auth.get("/callback/<provider>")
def callback(provider: str) -> Response:
    previous_uid, previous_marks = session.get("uid"), session.get("marks")
    try:
        outcome = services().signin.finish(
            provider, request.args.to_dict(), pending_flows(), previous_uid
        )
    except SignInError as error:
        _login_failed(provider, error)
        raise
    session.clear()
    # A new id, but a signed-in browser keeps its sign-in time: the absolute limit counts
    # from the first sign-in, however often the person signs in again.
    session.rotate(keep_created=previous_uid is not None)  # type: ignore[attr-defined]
    session["uid"] = outcome.uid
    marks = list(outcome.marks)
    if outcome.uid == previous_uid and isinstance(previous_marks, list):
        # The same person, also proved with another identity earlier in this session.
        marks += [m for m in previous_marks if isinstance(m, str) and m not in marks]
    session["marks"] = marks[:MAX_MARKS]
    _say_how_it_went(provider, outcome)
    return keep_pending(redirect(outcome.next_path, code=303), outcome.pending)


def _say_how_it_went(provider: str, outcome: SignedIn) -> None:
    """The message the next page shows. A consent that fell short says so on its own page
    (consent_incomplete.html), so only the outcomes that went through are flashed here; a
    plain sign-in says nothing (the account page it lands on says who is signed in)."""
    found = services()
    title = found.signin.connectors[provider].title
    if outcome.purpose:
        if "/incomplete" in outcome.next_path:
            return
        purpose = found.consent.catalogue.purpose(outcome.purpose).title
        flash(f"Consent given: “{purpose}” with {title}. You can withdraw it here at any time.")
    elif outcome.linked:
        flash(f"{title} account linked: you can sign in with either account now.")


@auth.post("/callback/<provider>")
def form_post_callback(provider: str) -> Response:
    """Microsoft posts the response cross-site, without our SameSite=Lax cookies: seal it
    into the redirect to the same path, where the browser comes with its cookies."""
    try:
        sealed = services().signin.park_form_post(provider, request.form.to_dict())
    except SignInError as error:
        _login_failed(provider, error)
        raise
    return redirect(url_for("auth.callback", provider=provider, response=sealed), code=303)


def _login_failed(provider: str, error: SignInError) -> None:
    uid = session.get("uid")
    security_event(
        "login",
        "failure",
        actor=uid if isinstance(uid, str) else "anonymous",
        subject="unknown",
        provider=provider,
        reason=error.code,
        status=error.status,
    )


@auth.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("pages.landing"), code=303)

"""Sign-in routes. Each provider has its own callback path (mix-up defence, RFC 9207)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, session, url_for
from werkzeug.wrappers import Response

from gateway.context import services
from gateway.request_log import security_event
from gateway.services.signin import SignInError

auth = Blueprint("auth", __name__, url_prefix="/auth")
MAX_MARKS = 16  # identity marks a session keeps (two per identity proved in it)


def _pending() -> list[str]:
    value = session.get("pending", [])
    return [h for h in value if isinstance(h, str)] if isinstance(value, list) else []


@auth.get("/login/<provider>")
def login(provider: str) -> Response:
    started = services().signin.start(provider, request.args.get("next"), _pending())
    session["pending"] = started.pending
    return redirect(started.url, code=302)


@auth.post("/link/<provider>")
def link(provider: str) -> Response:
    """Start linking another provider to the signed-in user (a CSRF-protected form)."""
    uid = session.get("uid")
    if not uid:
        abort(401, "Sign in first, then link another account.")
    started = services().signin.start(provider, "/account", _pending(), link_uid=uid)
    session["pending"] = started.pending
    return redirect(started.url, code=303)


@auth.get("/callback/<provider>")
def callback(provider: str) -> Response:
    previous_uid, previous_marks = session.get("uid"), session.get("marks")
    try:
        outcome = services().signin.finish(
            provider, request.args.to_dict(), _pending(), previous_uid
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
    if outcome.pending:
        session["pending"] = outcome.pending
    return redirect(outcome.next_path, code=303)


@auth.post("/callback/<provider>")
def form_post_callback(provider: str) -> Response:
    """Microsoft posts the response cross-site, without our SameSite=Lax cookie: park it."""
    try:
        state = services().signin.park_form_post(provider, request.form.to_dict())
    except SignInError as error:
        _login_failed(provider, error)
        raise
    return redirect(url_for("auth.callback", provider=provider, state=state), code=303)


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

"""Who may call a route: the signed-in user, or an admin. Blueprints use these, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, session

from gateway.context import services

F = TypeVar("F", bound=Callable[..., Any])


def current_uid() -> str | None:
    uid = session.get("uid")
    return uid if isinstance(uid, str) else None


def signed_in_uid() -> str:
    uid = current_uid()
    if uid is None:
        abort(401, "Sign in first.")
    return uid


def is_admin() -> bool:
    """Asked of the configuration on every request, from the identities this session
    proved; never remembered, so a removed admin loses the rights at the next request."""
    return current_uid() is not None and services().settings.is_admin_marked(session.get("marks"))


def admin_required(view: F) -> F:
    """401 without a session, 403 for a signed-in user who is not an admin."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        signed_in_uid()
        if not is_admin():
            abort(403, "This needs an administrator.")
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def login_required(view: F) -> F:
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        signed_in_uid()
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]

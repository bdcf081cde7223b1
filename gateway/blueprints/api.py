"""The JSON API for programs, and the health probes."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, jsonify, session
from werkzeug.wrappers import Response

from gateway.context import services

api = Blueprint("api", __name__)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


@api.get("/v1/me")
def me() -> Response:
    uid = session.get("uid")
    user = services().users.get(uid) if uid else None
    if user is None:
        abort(401, "Sign in first.")
    return jsonify(
        id=user.id,
        name=user.name,
        email=user.email,
        created=_iso(user.created),
        identities=[
            {
                "provider": i.provider,
                "name": i.name,
                "email": i.email,
                "linked": _iso(i.linked_at),
            }
            for i in user.identities
        ],
    )


@api.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@api.get("/readyz")
def readyz() -> tuple[Response, int]:
    if not services().storage_answers():
        return jsonify(error="storage_unavailable", message="Redis is not answering."), 503
    return jsonify(status="ready"), 200

"""The record of processing: JSON for programs, a public page for people, one catalogue."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, jsonify, render_template
from werkzeug.wrappers import Response

from scopes import load_catalogue, processing_register

register = Blueprint("register", __name__)

# Public and the same for everyone until the next deploy; the page is not cached because
# its header shows the signed-in person's navigation.
PUBLIC_CACHE = "public, max-age=300"


UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


@register.app_template_filter("duration")
def duration(value: timedelta) -> str:
    """A catalogue duration in the largest whole unit: P180D -> "180 days", PT1H -> "1 hour"."""
    seconds = int(value.total_seconds())
    unit, size = next((u, s) for u, s in UNITS if seconds % s == 0)
    count = seconds // size
    return f"{count} {unit}{'' if count == 1 else 's'}"


@register.get("/v1/processing-register")
def register_json() -> Response:
    response = jsonify(processing_register(load_catalogue()))
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@register.get("/processing-register")
def register_page() -> str:
    return render_template("register.html", catalogue=load_catalogue())

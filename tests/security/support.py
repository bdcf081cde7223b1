"""Helpers shared by the attack suite (tests/security) and the fuzzers (tests/fuzz)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from flask import Flask
from flask.testing import FlaskClient

PUBLIC_ORIGIN = ("http", "127.0.0.1:8000")
GOOGLE_ACCOUNT = "alice@example.com"
OTHER_GOOGLE_ACCOUNT = "bob@example.com"
MICROSOFT_ACCOUNT = "carol@contoso.example"
GENERIC_ACCOUNT = "erin@oidc.example"
DAY = {"timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z"}
SLOTS = {"from": DAY["timeMin"], "to": DAY["timeMax"], "duration": "30"}
HOURS = {d: [["08:00", "18:00"]] for d in ("monday", "tuesday", "wednesday", "thursday")}
# What a browser drops from a URL before parsing it (WHATWG URL: tab and newline).
BROWSER_STRIPPED = re.compile(r"[\t\n\r]")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def api_client(app: Flask, name: str, audiences: set[str], rooms: set[str] | None = None) -> str:
    """A new API client's Bearer secret, with a limit no test reaches."""
    with app.app_context():
        _, secret = app.extensions["gateway"].api_clients.create(
            name, audiences, rooms or set(), "100000/second"
        )
    return str(secret)


def make_room(
    app: Flask,
    room_id: str,
    visibility: list[str],
    host: str | None = None,
    *,
    time_zone: str = "UTC",
    hours: dict[str, list[list[str]]] = HOURS,
) -> str:
    spec: dict[str, Any] = {
        "id": room_id,
        "name": room_id.title(),
        "location": "Ghent",
        "time_zone": time_zone,
        "hours": hours,
        "visibility": visibility,
    }
    if host:
        spec["host"] = host
    app.extensions["gateway"].rooms.create(spec)
    return room_id


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/account").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def signed_in_uid(client: FlaskClient) -> str:
    answer = client.get("/v1/me")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()["id"])


def same_origin_path(location: str) -> bool:
    """Whether a browser following `location` from our callback stays on our origin.

    Read the way browsers read it: tabs and newlines dropped, `\\` taken as `/`."""
    cleaned = BROWSER_STRIPPED.sub("", location).replace("\\", "/")
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return False
    target = urlsplit(urljoin("http://127.0.0.1:8000/auth/callback/google", cleaned))
    return (target.scheme, target.netloc) == PUBLIC_ORIGIN


class Resources(HTMLParser):
    """URLs a page loads by itself: every `src`, and `href` of `<link>` (not of anchors)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name == "src" or (name == "href" and tag == "link")):
                self.urls.append(value)


def third_party_urls(html: str) -> list[str]:
    parser = Resources()
    parser.feed(html)
    found = []
    for url in parser.urls:
        parts = urlsplit(urljoin("http://127.0.0.1:8000/", url))
        if (parts.scheme, parts.netloc) != PUBLIC_ORIGIN:
            found.append(url)
    return found

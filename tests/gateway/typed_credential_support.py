"""What the tests of typed-credential providers (CalDAV, ICS feeds) share: a gateway that
trusts the test server's own CA and may reach 127.0.0.1, a signed-in host, the consent
form filled in as the page sends it, and a room bound to the host's grant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trustme
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import SignIn
from tests.hosts import OFFICE_HOURS

PAGE = "/consent/room-availability"


def enabled(kind: str, tmp_path: Path, emulator: Any, ca: trustme.CA) -> dict[str, str]:
    """The settings offering `kind`, trusting the emulator's CA and the test server's
    (one bundle in `tmp_path`), with 127.0.0.1 let through the outbound guard."""
    bundle = tmp_path / "cas.pem"
    bundle.write_bytes(Path(emulator.ca_path).read_bytes() + ca.cert_pem.bytes())
    return {
        f"GATEWAY_{kind.upper()}_ENABLED": "1",
        "GATEWAY_OUTBOUND_ALLOWLIST": "127.0.0.1/32",
        "GATEWAY_CA_BUNDLE": str(bundle),
    }


@contextmanager
def signed_in_host(app: Flask, emulator: Any) -> Iterator[tuple[FlaskClient, str]]:
    """A member signed in through the emulator (Alice), and their user id."""
    browser = SignIn(app.test_client(), emulator)
    browser.complete("google", "alice@example.com")
    uid = browser.client.get("/v1/me").get_json()["id"]
    try:
        yield browser.client, uid
    finally:
        browser.http.close()


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def send_consent_form(client: FlaskClient, provider: str, **fields: str) -> Any:
    """The consent page's form for `provider`, sent as the page sends it (CSRF token)."""
    page = client.get(PAGE, query_string={"provider": provider}).get_data(as_text=True)
    return client.post(PAGE, data={"csrf_token": csrf(page), "provider": provider, **fields})


def bound_room(app: Flask, uid: str, gid: str, room_id: str, name: str) -> str:
    """A room of office hours the booking frontend sees, hosted by `uid`, bound to `gid`."""
    rooms = app.extensions["gateway"].rooms
    rooms.create(
        {
            "id": room_id,
            "name": name,
            "time_zone": "UTC",
            "hours": OFFICE_HOURS,
            "host": uid,
            "visibility": ["frontend"],
        }
    )
    rooms.bind(uid, room_id, gid)
    return room_id

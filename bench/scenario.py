"""A gateway with real Redis, the emulator, hosts, grants and bound rooms, for benchmarks.

Everything goes through the same service layer as production: grants come from real
authorization-code flows against the emulator, rooms are bound by their hosts.
"""

from __future__ import annotations

import secrets
import tempfile
from contextlib import ExitStack
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from flask import Flask

from connectors.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start_emulator
from gateway import create_app
from gateway.crypto.keyring import new_key_entry
from gateway.storage.embedded import EmbeddedRedis
from gateway.storage.users import LinkedIdentity

PUBLIC_URL = "http://127.0.0.1:8000"
SCOPES = {
    "google": "https://www.googleapis.com/auth/calendar.freebusy",
    "microsoft": "Calendars.ReadBasic",
}
TENANT = "11111111-1111-4111-8111-111111111111"


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.fields[str(found["name"])] = found.get("value") or ""


class Scenario:
    def __init__(self, **settings: str) -> None:
        self._stack = ExitStack()
        folder = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
        self.redis = self._stack.enter_context(EmbeddedRedis(folder / "redis"))
        callbacks = [f"{PUBLIC_URL}/auth/callback/{p}" for p in ("google", "microsoft")]
        self.emulator = self._stack.enter_context(
            start_emulator(
                ca_path=folder / "ca.pem",
                clients={
                    DEFAULT_CLIENT_ID: {"secret": DEFAULT_CLIENT_SECRET, "redirect_uris": callbacks}
                },
            )
        )
        self.env = {
            "GATEWAY_SECRET_KEY": secrets.token_urlsafe(48),
            "GATEWAY_ENCRYPTION_KEYS": new_key_entry("bench"),
            "GATEWAY_REDIS_URL": self.redis.url,
            "GATEWAY_EMULATOR_URL": self.emulator.url,
            "GATEWAY_CA_BUNDLE": str(self.emulator.ca_path),
            "GATEWAY_PUBLIC_URL": PUBLIC_URL,
            "GATEWAY_DATA_DIR": str(folder / "data"),
            "GATEWAY_LOG_LEVEL": "WARNING",
            **settings,
        }
        self.app: Flask = create_app(self.env)
        self.services: Any = self.app.extensions["gateway"]
        self.http = requests.Session()
        self.http.verify = str(self.emulator.ca_path)
        self.http.trust_env = False

    def close(self) -> None:
        self.http.close()
        self._stack.close()

    def _answer(self, url: str) -> dict[str, str]:
        response = self.http.get(url, allow_redirects=False, timeout=10)
        if response.status_code in (302, 303):
            return {
                k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()
            }
        form = _Form()
        form.feed(response.text)
        return form.fields

    def host(self, provider: str, n: int) -> tuple[str, str]:
        """A new host account at the emulator, signed in once, with a calendar grant."""
        domain = "example.com" if provider == "google" else "contoso.example"
        email = f"host{n}-{secrets.token_hex(3)}@{domain}"
        extra = {"tenant": TENANT} if provider == "microsoft" else {}
        self.emulator.client.add_account(email, f"Host {n}", provider, **extra)
        connector = self.services.signin.connectors[provider]
        redirect_uri = self.services.settings.redirect_uri(provider)
        request = connector.begin(redirect_uri, secrets.token_urlsafe(12), (SCOPES[provider],))
        self.emulator.client.authorize_next(email)
        identity = connector.complete(redirect_uri, request.flow, self._answer(request.url))
        uid = self.services.users.create_with_identity(
            LinkedIdentity(provider, identity.subject, None, f"Host {n}", 0.0)
        )
        gid = self.services.grants.create(uid, "room-availability", identity).id
        self.emulator.client.add_event(email, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
        return uid, gid

    def rooms(self, count: int, grants: list[tuple[str, str]], prefix: str = "room") -> list[str]:
        made = []
        for n in range(count):
            uid, gid = grants[n % len(grants)]
            room_id = f"{prefix}-{n}"
            self.services.rooms.create(
                {
                    "id": room_id,
                    "name": f"Room {n}",
                    "time_zone": "UTC",
                    "hours": {"wednesday": [["00:00", "24:00"]]},
                    "host": uid,
                    "visibility": ["bench"],
                }
            )
            self.services.rooms.bind(uid, room_id, gid)
            made.append(room_id)
        return made

"""A gateway with real Redis, the emulator, hosts, grants and bound rooms, for benchmarks.

Everything goes through the same service layer as production: grants come from real
authorization-code flows against the emulator, rooms are bound by their hosts.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from flask import Flask

from bench.browser import TENANT
from bench.stack import Stack
from emulator import read_form_post
from gateway import create_app
from gateway.storage.users import LinkedIdentity

SCOPES = {
    "google": "https://www.googleapis.com/auth/calendar.freebusy",
    "microsoft": "Calendars.ReadBasic",
}


class Scenario:
    """A `Stack` (real Redis, the emulator) plus the gateway app built on it in-process."""

    def __init__(self, own_process: bool = False, cluster: bool = False, **settings: str) -> None:
        """`own_process`: the emulator as a process of its own; `cluster`: a three-master
        Redis Cluster instead of one server (bench/stack.py)."""
        self.stack = Stack(own_process=own_process, cluster=cluster, **settings)
        try:
            self.app: Flask = create_app(self.stack.env)
        except BaseException:
            self.stack.close()
            raise
        self.redis = self.stack.redis
        self.emulator = self.stack.emulator
        self.env = self.stack.env
        self.services: Any = self.app.extensions["gateway"]
        self.http = requests.Session()
        self.http.verify = str(self.emulator.ca_path)
        self.http.trust_env = False
        self.accounts: dict[str, str] = {}  # uid -> the host's e-mail at the emulator

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        from gateway.services.disk_scrub import stop_all

        stop_all()  # the app's disk-scrub thread would poll a Redis about to stop
        self.http.close()
        self.stack.close()

    def _answer(self, url: str) -> dict[str, str]:
        response = self.http.get(url, allow_redirects=False, timeout=10)
        if response.status_code in (302, 303):
            return {
                k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()
            }
        return read_form_post(response.text)[1]

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
        self.accounts[uid] = email
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

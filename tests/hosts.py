"""Hosts with calendar grants and bound rooms, made the real way: a browser signs each in,
the connector completes a calendar authorization at the emulator over HTTPS, and the
gateway's own services create the grant and bind the rooms.

Shared by the free/busy, fault, leakage, retention and serving suites.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from gateway.services.callers import Caller

FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
CALENDARS = "Calendars.ReadBasic"
ACCOUNTS = {"google": "alice@example.com", "microsoft": "carol@contoso.example"}
DAY = (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC))  # a Wednesday
FRONTEND = Caller(kind="client", id="frontend", audiences=frozenset({"frontend"}))
OFFICE_HOURS = {d: [["08:00", "18:00"]] for d in ("monday", "tuesday", "wednesday", "thursday")}
# What events carry at the emulator and must never leave the gateway: title, location,
# attendee, description, organizer.
PLANTED = (
    "Secret merger talk",
    "Boardroom 7",
    "ceo@example.com",
    "Agenda: the secret merger",
    "cfo@example.com",
)


class Hosts:
    """Signs hosts in, gives each a room-availability grant and binds rooms to it."""

    def __init__(self, app: Flask, sign_in: Any, another_browser: Any) -> None:
        self.app = app
        self.services = app.extensions["gateway"]
        self.another_browser = another_browser
        self.emulator = sign_in.emulator
        self.browsers: dict[str, Any] = {}  # uid -> that host's signed-in browser

    def host(
        self, provider: str, account: str | None = None, *, due_for_refresh: bool = False
    ) -> tuple[str, str]:
        """(uid, gid) of `account` (the provider's usual test account by default); with
        `due_for_refresh` the access token is issued with 1 s to live, so the first use
        refreshes it at the provider's token endpoint."""
        uid, identity = self.authorize(provider, account, due_for_refresh=due_for_refresh)
        gid = self.services.grants.create(uid, "room-availability", identity).id
        return uid, gid

    def authorize(
        self, provider: str, account: str | None = None, *, due_for_refresh: bool = False
    ) -> tuple[str, Any]:
        """A signed-in host and the identity (with tokens) of a calendar authorization."""
        account = account or ACCOUNTS[provider]
        browser = self.another_browser()
        browser.complete(provider, account)
        uid = browser.client.get("/v1/me").get_json()["id"]
        self.browsers[uid] = browser
        if due_for_refresh:
            self.emulator.client.settings(access_token_ttl=1)
        identity = self.identity(uid, provider, account)
        if due_for_refresh:
            self.emulator.client.settings(access_token_ttl=3600)
        return uid, identity

    def identity(self, uid: str, provider: str, account: str) -> Any:
        """A calendar authorization of host `uid` (signed in already), given at the provider
        as `account`: their own account or another one of theirs."""
        connector = self.services.signin.connectors[provider]
        redirect_uri = self.services.settings.redirect_uri(provider)
        scope = FREEBUSY if provider == "google" else CALENDARS
        request = connector.begin(redirect_uri, f"hosts-{time.monotonic_ns()}", (scope,))
        self.emulator.client.authorize_next(account)
        _, params = self.browsers[uid].at_provider(request.url)
        return connector.complete(redirect_uri, request.flow, params)

    def another_account(self, uid: str, provider: str, account: str) -> str:
        """The id of a room-availability grant of host `uid` for another provider account."""
        identity = self.identity(uid, provider, account)
        return str(self.services.grants.create(uid, "room-availability", identity).id)

    def room(self, room_id: str, uid: str, gid: str, hours: Any = None, zone: str = "UTC") -> str:
        self.services.rooms.create(
            {
                "id": room_id,
                "name": room_id.title(),
                "time_zone": zone,
                "hours": hours or OFFICE_HOURS,
                "host": uid,
                "visibility": ["frontend"],
            }
        )
        self.services.rooms.bind(uid, room_id, gid)
        return room_id

    def hosted_room(self, provider: str, room_id: str, **host: Any) -> tuple[str, str, str]:
        uid, gid = self.host(provider, **host)
        return uid, gid, self.room(room_id, uid, gid)

    def event(self, account: str, start: str, end: str, **extra: Any) -> None:
        """An event with the PLANTED title, location, attendee, description and organizer."""
        self.emulator.client.add_event(
            account,
            start,
            end,
            summary=PLANTED[0],
            location=PLANTED[1],
            attendees=[PLANTED[2]],
            description=PLANTED[3],
            organizer=PLANTED[4],
            **extra,
        )

    def query(self, *room_ids: str) -> Any:
        return self.services.freebusy.query(FRONTEND, list(room_ids), *DAY)

    def status(self, room_id: str) -> str:
        return str(self.query(room_id).rooms[room_id].status)

    def calls(self, endpoint: str) -> int:
        return self.emulator.client.calls().get(endpoint, 0)

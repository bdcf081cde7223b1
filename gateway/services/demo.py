"""The demo `make run` seeds on first run with the provider emulator: a working product to
look at before anything is configured.

Six rooms in three time zones, visible to members, hosted by emulated accounts of
emulator/accounts.json: Alice (Google: her main calendar, and the calendar she keeps for a
room, chosen with "Choose which calendar backs a room"), Dave (Microsoft: his main calendar)
and Carol (Microsoft: three room mailboxes of her tenant). Their calendars hold plausible
meetings over the next two weeks. Bob is the demo admin (only ever with the emulator).

Everything goes through the services, the way a person's clicks would: each host signs in
and gives consent through a real authorization-code flow at the emulator (this module plays
the browser), rooms are created and bound by the room service. Each step is skipped when
already done, and a marker in the data folder says the demo was seeded, so a restart
neither duplicates it nor brings back what an admin deleted since. Events are added with
fixed ids (the emulator replaces an event of the same id), for days not covered yet.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import requests

from gateway.services.demo_data import (
    ADMIN_EMAIL,
    DAYS,
    HOURS,
    ROOMS,
    SECONDARY,
    DemoRoom,
    meetings,
)
from gateway.services.room_calendars import CALENDAR_CHOICE, PRIMARY, ROOM_AVAILABILITY

log = logging.getLogger(__name__)

MARKER = "demo.json"
ACTOR = "demo"


class Emulator(Protocol):
    url: str
    ca_path: Path
    client: Any  # emulator.EmulatorClient


class DemoError(RuntimeError):
    """A step of the seeding failed; the next start tries again."""


def admin_entry(accounts: list[dict[str, Any]]) -> str | None:
    """The GATEWAY_ADMINS entry of the demo admin, from the emulator's account list."""
    for account in accounts:
        if account.get("email") == ADMIN_EMAIL and account.get("provider"):
            return f"{account['provider']}:{account['subject']}"
    return None


class DemoSeeder:
    def __init__(self, found: Any, emulator: Emulator, data_dir: Path) -> None:
        self.found = found  # gateway.context.Services
        self.emulator = emulator
        self.marker = data_dir / MARKER
        self.http = requests.Session()
        self.http.verify = str(emulator.ca_path)
        self.http.trust_env = False
        self._providers: dict[str, str] = {}

    # -- the whole run ---------------------------------------------------------------------
    def run(self, today: date | None = None) -> str:
        """Seed once, then add the events of days not covered yet; what it did, in words."""
        today = today or datetime.now(UTC).date()
        kept = self._read_marker()
        try:
            if kept is None:
                targets = self.seed()
                kept = {"seeded": True, "targets": targets, "events_until": None}
                said = f"demo seeded: {len(ROOMS)} rooms"
            else:
                said = "demo already seeded"
            added = self.top_up(kept, today)
        finally:
            self.http.close()
        self._write_marker(kept)
        return f"{said}, {added} calendar events added"

    def seed(self) -> dict[str, list[str]]:
        """Hosts, consents, rooms and bindings; where each room's events go."""
        hosts: dict[str, str] = {}
        for room in ROOMS:
            provider = self.provider_of(room.host)
            if room.host not in hosts:
                hosts[room.host] = self.sign_in(provider, room.host)
                self.consent(hosts[room.host], ROOM_AVAILABILITY, provider, room.host)
            if room.calendar != PRIMARY:
                self.consent(hosts[room.host], CALENDAR_CHOICE, provider, room.host)
        # so the admin finds their account in place
        self.sign_in(self.provider_of(ADMIN_EMAIL), ADMIN_EMAIL)
        targets = {}
        for room in ROOMS:
            targets[room.id] = self.room(room, hosts[room.host])
        return targets

    # -- steps -------------------------------------------------------------------------------
    def provider_of(self, email: str) -> str:
        """The provider of an emulator account, as the emulator lists it."""
        if not self._providers:
            accounts = self.emulator.client.accounts()
            self._providers = {str(a["email"]): str(a["provider"]) for a in accounts}
        if email not in self._providers:
            raise DemoError(f"the emulator has no account {email}")
        return self._providers[email]

    def sign_in(self, provider: str, email: str) -> str:
        signin = self.found.signin
        started = signin.start(provider, "/account", None)
        params = self._at_provider(provider, email, started.url)
        return str(signin.finish(provider, params, started.pending, None).uid)

    def consent(self, uid: str, purpose: str, provider: str, email: str) -> None:
        consent = self.found.consent
        if consent.is_current(uid, purpose, provider):
            return
        scopes = consent.scopes_to_ask(uid, purpose, provider)
        started = self.found.signin.start(
            provider, "/account", None, link_uid=uid, purpose=purpose, scopes=scopes
        )
        params = self._at_provider(provider, email, started.url)
        self.found.signin.finish(provider, params, started.pending, uid)
        if not consent.is_current(uid, purpose, provider):
            raise DemoError(f"consent {purpose} of {email} was not recorded")

    def room(self, room: DemoRoom, uid: str) -> list[str]:
        rooms = self.found.rooms
        if rooms.get(room.id) is None:
            rooms.create(
                {
                    "id": room.id,
                    "name": room.name,
                    "location": room.location,
                    "capacity": room.capacity,
                    "equipment": list(room.equipment),
                    "time_zone": room.time_zone,
                    "hours": HOURS,
                    "host": uid,
                    "visibility": ["members"],
                },
                actor=ACTOR,
            )
        grant = self._grant(uid, self.provider_of(room.host))
        calendar, target = PRIMARY, [room.host, "primary"]
        if room.calendar == SECONDARY:
            calendar = self._secondary(uid, grant)
            target = [room.host, calendar]
        elif room.calendar != PRIMARY:
            calendar, target = room.calendar, [room.calendar, "primary"]
        if not rooms.is_bound(room.id):
            rooms.bind(uid, room.id, grant, calendar)
        return target

    def top_up(self, kept: dict[str, Any], today: date) -> int:
        """Meetings for every day from today for two weeks that has none yet."""
        until = kept.get("events_until")
        first = today
        if until:
            first = max(today, date.fromisoformat(str(until)) + timedelta(days=1))
        last = today + timedelta(days=DAYS - 1)
        targets = kept.get("targets") or {}
        added = 0
        day = first
        while day <= last:
            for room in ROOMS:
                target = targets.get(room.id)
                if not target:
                    continue
                for event in meetings(room, day):
                    self.emulator.client.add_event(
                        target[0], calendar=target[1], organizer=room.host, **event
                    )
                    added += 1
            day += timedelta(days=1)
        kept["events_until"] = max(last, first - timedelta(days=1)).isoformat()
        return added

    # -- inside ------------------------------------------------------------------------------
    def _grant(self, uid: str, provider: str) -> str:
        for grant in reversed(self.found.grants.list(uid)):
            if (
                grant.purpose == ROOM_AVAILABILITY
                and grant.provider == provider
                and grant.status == "active"
            ):
                return str(grant.id)
        raise DemoError(f"no active room-availability grant with {provider}")

    def _secondary(self, uid: str, gid: str) -> str:
        for choice in self.found.rooms.grant_choices(uid):
            if choice.grant_id != gid:
                continue
            for calendar in choice.calendars:
                if str(calendar.name).startswith("Meeting room"):
                    return str(calendar.id)
        raise DemoError("the host's room calendar is not in their calendar list")

    def _at_provider(self, provider: str, email: str, url: str) -> dict[str, str]:
        """What the browser brings back from the emulator, answering as `email`."""
        from emulator import read_form_post

        self.emulator.client.authorize_next(email)
        answer = self.http.get(url, allow_redirects=False, timeout=10)
        if answer.status_code in (302, 303):
            query = urlsplit(answer.headers["Location"]).query
            return {k: v[0] for k, v in parse_qs(query).items()}
        if answer.status_code != 200:
            raise DemoError(f"the emulator answered {answer.status_code} to a sign-in")
        _, fields = read_form_post(answer.text)  # Microsoft's form_post
        return {"response": self.found.signin.park_form_post(provider, fields)}

    def _read_marker(self) -> dict[str, Any] | None:
        try:
            kept = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return None
        return kept if isinstance(kept, dict) and kept.get("seeded") else None

    def _write_marker(self, kept: dict[str, Any]) -> None:
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(json.dumps(kept, indent=1))

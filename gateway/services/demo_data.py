"""What the demo holds (services/demo.py seeds it): six rooms in three time zones, their
office hours, and the same plausible meetings for a room and day on every run.

The rooms come from the emulator's own list (emulator/demo_rooms.json), with which account
hosts each; the meetings carry titles, attendees and descriptions on purpose: the gateway
must never show them, only busy time.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from gateway.services.room_calendars import PRIMARY

DAYS = 14
ADMIN_EMAIL = "bob@example.com"
WORKDAY = [["08:00", "18:00"]]
HOURS = {day: WORKDAY for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}
SECONDARY = "@secondary"  # the host's own calendar kept for one room (its provider lists it)

TOPICS = (
    "Sprint planning",
    "Customer call: renewal",
    "Design review",
    "1:1",
    "Quarterly budget",
    "Interview: backend engineer",
    "Team stand-up",
    "Board prep",
    "Vendor demo",
    "Retrospective",
    "Workshop: onboarding",
    "Architecture sync",
)


@dataclass(frozen=True)
class DemoRoom:
    id: str
    name: str
    location: str
    capacity: int
    equipment: tuple[str, ...]
    time_zone: str
    host: str  # the e-mail of an emulator account
    calendar: str  # PRIMARY, SECONDARY or a room mailbox address


def _demo_rooms() -> tuple[DemoRoom, ...]:
    """The emulator's demo rooms (emulator/demo_rooms.json): which provider hosts each comes
    from the emulator's own account list, so nothing here names one."""
    raw = json.loads((resources.files("emulator") / "demo_rooms.json").read_text("utf-8"))
    calendars = {"primary": PRIMARY, "secondary": SECONDARY}
    return tuple(
        DemoRoom(
            id=room["id"],
            name=room["name"],
            location=room["location"],
            time_zone=room["time_zone"],
            host=room["host"],
            calendar=calendars.get(room["calendar"], room["calendar"]),
            capacity=int(room["capacity"]),
            equipment=tuple(room["equipment"]),
        )
        for room in raw["rooms"]
    )


ROOMS = _demo_rooms()


def meetings(room: DemoRoom, day: date) -> list[dict[str, Any]]:
    """The same plausible meetings for a room and day every time (seeded by both): two to
    five on a working day, local office hours, some tentative, one marked free now and then
    (it must never show as busy)."""
    if day.weekday() >= 5:
        return []
    chance = random.Random(f"{room.id}|{day.isoformat()}")  # noqa: S311 - demo data, not secrets
    zone = ZoneInfo(room.time_zone)
    found = []
    for number in range(chance.randint(2, 5)):
        start_hour = chance.choice((8, 9, 10, 11, 13, 14, 15, 16))
        start = datetime.combine(day, time(start_hour, chance.choice((0, 30))), zone)
        end = start + timedelta(minutes=chance.choice((30, 60, 60, 90, 120)))
        show_as = chance.choices(("busy", "tentative", "free"), weights=(8, 2, 1))[0]
        topic = chance.choice(TOPICS)
        found.append(
            {
                "start": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "end": end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "summary": topic,
                "location": room.name,
                "description": f"Agenda for {topic.lower()} (never shown by the gateway)",
                "attendees": [f"guest{chance.randint(1, 40)}@partner.example"],
                "show_as": show_as,
                "event_id": f"demo-{room.id}-{day.isoformat()}-{number}",
            }
        )
    return found

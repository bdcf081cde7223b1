"""What both calendar APIs of the emulator share: the caller's token, events, times, zones.

`bearer` finds the live access token (and its account) a request carries; busy time is read
from the emulated events and merged as the real services merge it. Used by the freeBusy and
getSchedule endpoints (calendar.py, calendar_graph.py) and by push (push_google.py,
push_graph.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import request

from emulator.faults import current_state
from emulator.records import Account, Event, Token

# The Windows zone names Graph clients send most; IANA names work as well.
WINDOWS_ZONES = {
    "UTC": "UTC",
    "Pacific Standard Time": "America/Los_Angeles",
    "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago",
    "Eastern Standard Time": "America/New_York",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "Tokyo Standard Time": "Asia/Tokyo",
}


def bearer(provider: str) -> tuple[Token, Account] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    state = current_state()
    token = state.live_token(value.strip(), "access")
    if token is None or token.provider != provider:
        return None
    account = state.accounts.get(token.account_key)
    return (token, account) if account is not None else None


def events_of(owner: str, calendar: str = "primary") -> list[Event]:
    state = current_state()
    with state.lock:
        return [e for e in state.events if e.owner == owner and e.calendar == calendar]


def rfc3339(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def zone(name: str | None) -> tzinfo | None:
    if not name:
        return UTC
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def merged_busy(events: Iterable[Event], start: datetime, end: datetime) -> list[tuple]:
    """Busy intervals (not `free`) clipped to the window and merged where they touch."""
    spans = sorted(
        (max(e.start, start), min(e.end, end))
        for e in events
        if e.show_as != "free" and e.start < end and e.end > start
    )
    merged: list[list[datetime]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def int_or(value: Any, default: int) -> int:
    """A request's number (a body field, a query parameter), or `default` if it is none."""
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default

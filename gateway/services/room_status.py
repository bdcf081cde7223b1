"""The room statuses the API answers, and the words every page, the OpenAPI document and
the export use for each.

The names are a contract: booking frontends (and other teams' tests) switch on them, so
they never change. Each has its own words so that a person can tell "nobody connected a
calendar" from "the provider is failing" from "the host must connect again".
"""

from __future__ import annotations

from typing import Literal

OK = "ok"
UNKNOWN = "unknown"
RESTRICTED = "restricted"
NEEDS_RECONNECT = "needs_reconnect"
UNBOUND = "unbound"

RoomStatus = Literal["ok", "unknown", "restricted", "needs_reconnect", "unbound"]

# name -> (a short label for a page, the sentence that explains it)
WORDS: dict[str, tuple[str, str]] = {
    OK: ("Available", "The host's calendar was read: the busy times shown are current."),
    UNKNOWN: (
        "Provider not answering",
        "The calendar provider could not be read just now; the room is never shown free "
        "while it is so. It clears by itself when the provider answers again.",
    ),
    RESTRICTED: (
        "Paused by its host",
        "The host paused all processing of their calendar data; nothing is read.",
    ),
    NEEDS_RECONNECT: (
        "Host must reconnect",
        "The provider no longer accepts the host's calendar access (revoked there, a "
        "password change or a lost permission): the host must connect the calendar again.",
    ),
    UNBOUND: (
        "No calendar connected",
        "No calendar is connected to this room yet: its host has to connect one.",
    ),
}
STATUSES: tuple[str, ...] = tuple(WORDS)


def label(status: str) -> str:
    return WORDS.get(status, (status, ""))[0]


def meaning(status: str) -> str:
    return WORDS.get(status, ("", status))[1]


def described() -> str:
    """Every status with its meaning, for the OpenAPI document's descriptions."""
    return " ".join(f"`{name}`: {text}" for name, (_, text) in WORDS.items())

"""Watches: the channel a provider opened, and what its notifications say, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class WatchStarted:
    """A channel the provider opened: its id (the gateway's choice), the provider's id of
    the watched resource (needed to stop it) and when it expires (seconds since the epoch)."""

    watch_id: str
    resource_id: str
    expires_at: float


# What a notification says of its calendar: "sync" (the channel is open, nothing changed),
# "changed", "gone" (the calendar no longer exists), "missed" (notifications were lost:
# read again), "reauthorize" (renew the channel with a fresh token), "removed" (the
# provider closed the channel: open another).
NotificationState = Literal["sync", "changed", "gone", "missed", "reauthorize", "removed"]


@dataclass(frozen=True)
class Notification:
    """One notification, as plain values: which channel, what it says, the secret it
    carries (checked by the gateway in constant time) and its message number, where the
    provider numbers them (a repeated or older number is a duplicate). Never event data."""

    watch_id: str
    state: NotificationState
    secret: str = field(default="", repr=False)
    resource_id: str = ""
    number: int | None = None


@dataclass(frozen=True)
class Handshake:
    """What to answer a provider checking the webhook before it opens a channel."""

    body: str
    content_type: str = "text/plain"


class NotificationRefused(ValueError):
    """A request to the webhook that is no notification of this provider (4xx)."""

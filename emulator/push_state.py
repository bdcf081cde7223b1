"""What the emulator remembers about push: Google channels, Graph subscriptions, deliveries.

Channels and subscriptions are kept across restarts with the rest of the state (state.py
writes `as_json` of each and reads them back with `channel_from_json` and
`subscription_from_json`); the delivery log and delivery faults are not, like counters.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

DELIVERY_KINDS = ("google", "graph", "validation", "lifecycle")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Channel:
    """A Google `events.watch` channel on one calendar.

    A change to an event matches it when the event is on `owner`'s primary calendar (the
    channel watches `primary` or a person's address) or on the calendar `calendar`."""

    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    address: str
    token: str | None
    expiration_ms: int
    account_key: str
    client_id: str
    owner: str | None = None
    calendar: str | None = None
    message_number: int = 0
    stopped: bool = False

    def live(self, at_ms: int | None = None) -> bool:
        return not self.stopped and self.expiration_ms > (now_ms() if at_ms is None else at_ms)

    def watches(self, owner: str, calendar: str) -> bool:
        if self.owner is not None and owner == self.owner and calendar == "primary":
            return True
        return self.calendar is not None and calendar.lower() == self.calendar

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Subscription:
    """A Graph change-notification subscription on one mailbox's events (`owner`)."""

    id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: float  # Unix seconds
    account_key: str
    client_id: str
    owner: str  # the mailbox address whose events are watched
    owner_id: str  # its object id, as resource paths in notifications name it
    tenant: str
    creator_id: str
    removed: bool = False

    def live(self, at: float | None = None) -> bool:
        return not self.removed and self.expiration > (time.time() if at is None else at)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["change_types"] = list(self.change_types)
        return data


@dataclass
class DeliveryFault:
    """What the next matching deliveries suffer: late, lost, sent twice, forged, or held
    back until the one after it was sent (out of order)."""

    kind: str | None = None  # one of DELIVERY_KINDS, or None for any
    delay_ms: int = 0
    drop: bool = False
    duplicate: bool = False
    forge: bool = False
    reorder: bool = False
    times: int = 1  # -1: for ever

    def matches(self, kind: str) -> bool:
        return self.kind in (None, kind)


@dataclass
class Delivery:
    """One POST the emulator made (or meant to make) to a receiver, for tests to read."""

    kind: str
    target: str  # channel or subscription id
    url: str
    status: int | None = None  # the receiver's HTTP status; None when none came back
    outcome: str = "pending"  # delivered|failed|dropped|timeout|error|pending|held
    state: str | None = None  # Google's resource state or Graph's change/lifecycle event
    message_number: int | None = None
    forged: bool = False
    at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def channel_from_json(item: dict[str, Any]) -> Channel:
    return Channel(**item)


def subscription_from_json(item: dict[str, Any]) -> Subscription:
    return Subscription(**{**item, "change_types": tuple(item["change_types"])})

"""What the account page and the admin console say of each bound calendar: how its
changes reach the gateway (watched by a channel, checked for changes, polled), and which
grants could be watched under the newer consent text.

A mixin of WatchService (services/watches.py), which holds the channels these read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.services.room_calendars import ROOM_AVAILABILITY

if TYPE_CHECKING:
    from connectors.base import Connector
    from gateway.services.grants import GrantService
    from gateway.services.rooms import RoomService
    from gateway.storage.watches import WatchStore

# How a calendar's changes reach the gateway (the account page and the admin console).
WATCHED, PENDING, UPGRADE, POLLED = "watched", "pending", "upgrade", "polled"
CHECKED, UNWATCHABLE = "checked", "unwatchable"
READ_AGAIN = (
    "read again when the room is asked for and the last read is older than the cache time"
    " (two minutes unless the operator changed it)"
)
UPDATES = {
    WATCHED: "watched: a change shows within seconds",
    CHECKED: "checked for changes every minute: a change shows within about a minute",
    PENDING: "polled: the provider's channel is not open yet (retried every hour)",
    UPGRADE: "polled: give the new version of the consent to have it watched",
    POLLED: "polled: " + READ_AGAIN,
    UNWATCHABLE: "polled: a room or shared mailbox cannot be watched under the permission "
    "its host gave; " + READ_AGAIN,
}


class WatchStates:
    store: WatchStore
    grants: GrantService
    rooms: RoomService
    connectors: Mapping[str, Connector]
    checked: set[str]

    def wanted(self, uid: str) -> dict[str, tuple[str, str, list[tuple[str, str]]]]:
        raise NotImplementedError  # WatchService's

    def unwatchable(self, uid: str) -> set[tuple[str, str]]:
        raise NotImplementedError  # WatchService's

    def watched_marks(self, uid: str) -> set[str]:
        """The calendars of `uid` with a live channel (the account page's "watched")."""
        now = time.time()
        return {w.calendar_mark for w in self.store.of_user(uid) if w.expires_at > now}

    def updates_of(self, uid: str) -> dict[tuple[str, str], str]:
        """(room, version) -> how changes of that calendar of `uid` arrive (UPDATES)."""
        wanted = self.wanted(uid)
        watched = self.watched_marks(uid)
        found: dict[tuple[str, str], str] = {}
        for mark, (_, _, slots) in wanted.items():
            for slot in slots:
                found[slot] = WATCHED if mark in watched else PENDING
        found.update(dict.fromkeys(self.unwatchable(uid), UNWATCHABLE))
        upgradable = self.upgradable(uid)
        for binding in self.rooms.binding_records(uid):
            slot = (binding.room_id, binding.version)
            if slot not in found:
                found[slot] = UPGRADE if binding.gid in upgradable else POLLED
                record = self.grants.record(uid, binding.gid) if self.checked else None
                if record is not None and record.provider in self.checked:
                    found[slot] = CHECKED
        return found

    def room_updates(self, room_id: str) -> list[tuple[str, str]]:
        """How changes of each calendar behind a room arrive: (state, words), in order."""
        found = []
        for binding in self.rooms.bindings(room_id):
            how = self.updates_of(binding.uid).get((room_id, binding.version), POLLED)
            found.append((how, UPDATES[how]))
        return found

    def upgradable(self, uid: str) -> set[str]:
        """Ids of `uid`'s usable grants whose provider has channels but whose scopes do not
        allow one: consented under an older text (the account page offers the new one)."""
        return {
            record.id
            for record in self.grants.records(uid)
            if record.usable
            and record.purpose == ROOM_AVAILABILITY
            and record.provider in self.connectors
            and not self.connectors[record.provider].capabilities.can_watch(record.scopes)
        }

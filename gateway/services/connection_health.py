"""Connection health: grants whose rooms need reconnecting, telling their hosts, and
keeping rarely used grants alive.

A grant needs reconnecting when it ended without its owner (the provider refused it, a
scope was withdrawn there, its stored tokens broke) while rooms are still bound to it:
those rooms answer `needs_reconnect`. The owner ending a grant unbinds its rooms, so that
never shows here. The host sees a banner on every page and a Reconnect button (the consent
flow of the grant's purpose); with GATEWAY_SMTP_URL they also get one e-mail per grant
ending (storage/notices.py), naming the rooms and the reason, nothing of any event. Admins
see every such room on the console.

Refresh tokens expire unused (Microsoft: 90 days of inactivity), so the worker's hourly
`refresh-idle-grants` job (services/jobs.py) refreshes every active grant not refreshed for
KEEP_ALIVE_AFTER_SECONDS, without counting it as a use (the retention sweep still ends
grants nobody uses); once an hour across every process, not once per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from connectors.errors import ConnectorError
from gateway.services.grants import GrantService, GrantUnavailable, KeyRingIncomplete
from gateway.services.mailer import Mailer
from gateway.services.room_model import Room
from gateway.services.rooms import RoomService
from gateway.storage.grants import ACTIVE
from gateway.storage.notices import NoticeStore
from gateway.storage.users import UserStore

log = logging.getLogger(__name__)

KEEP_ALIVE_AFTER_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Reconnect:
    """One grant of the signed-in host whose rooms need reconnecting."""

    grant_id: str
    provider: str
    purpose: str
    status: str
    reason: str
    rooms: tuple[str, ...]  # room names


@dataclass(frozen=True)
class BrokenRoom:
    """For admins: a room whose host's grant ended while it was bound."""

    room: Room
    host: str
    status: str
    reason: str


class ConnectionHealth:
    def __init__(
        self,
        grants: GrantService,
        rooms: RoomService,
        users: UserStore,
        notices: NoticeStore,
        mailer: Mailer | None,
        public_url: str,
        titles: Mapping[str, str],
        *,
        idle_after: float | None = None,
    ) -> None:
        self.grants = grants
        # unused this long, a grant is the retention sweep's to end: refreshing it would only
        # race that ending (and tell the provider about a grant being revoked)
        self.idle_after = idle_after
        self.rooms = rooms
        self.users = users
        self.notices = notices
        self.mailer = mailer
        self.public_url = public_url
        self.titles = dict(titles)

    # -- what needs reconnecting -------------------------------------------------------------
    def needing_reconnect(self, uid: str) -> list[Reconnect]:
        ended = {g.id: g for g in self.grants.list(uid) if g.status != ACTIVE}
        if not ended:
            return []
        names: dict[str, list[str]] = {}
        for binding in self.rooms.binding_records(uid):
            if binding.gid in ended:
                room = self.rooms.get(binding.room_id)
                names.setdefault(binding.gid, []).append(room.name if room else binding.room_id)
        return [
            Reconnect(g.id, g.provider, g.purpose, g.status, g.reason, tuple(sorted(names[g.id])))
            for g in ended.values()
            if g.id in names
        ]

    def broken_rooms(self) -> list[BrokenRoom]:
        rooms = self.rooms.all()
        pointers = self.rooms.pointer_sets([r.id for r in rooms]) if rooms else {}
        found = []
        for room in rooms:
            for uid, gid, _ in pointers.get(room.id, ()):  # any one calendar's grant breaks it
                grant = self.grants.get(uid, gid)
                if grant is None or grant.status != ACTIVE:
                    status = grant.status if grant else "revoked"
                    found.append(BrokenRoom(room, uid, status, grant.reason if grant else ""))
                    break
        return found

    def count_needing_reconnect(self) -> tuple[int, int]:
        """(grants, rooms): grants that ended while bound, and the rooms that answer
        needs_reconnect because of any of them (the worker's `count-reconnects` job)."""
        rooms = self.rooms.all()
        pointers = self.rooms.pointer_sets([r.id for r in rooms]) if rooms else {}
        broken_grants: set[tuple[str, str]] = set()
        broken_rooms = 0
        for room in rooms:
            broken = False
            for uid, gid, _ in pointers.get(room.id, ()):
                grant = self.grants.get(uid, gid)
                if grant is None or grant.status != ACTIVE:
                    broken_grants.add((uid, gid))
                    broken = True
            broken_rooms += broken
        return len(broken_grants), broken_rooms

    # -- telling the host ------------------------------------------------------------------
    def grant_lost(self, uid: str, gid: str) -> None:
        """GrantService.losses: e-mail the host once about this ending of the grant."""
        record = self.grants.record(uid, gid)
        if record is None or record.usable:
            return
        bound = [b.room_id for b in self.rooms.binding_records(uid) if b.gid == gid]
        if not bound or not self.notices.claim(uid, gid, record.epoch):
            return
        if self.mailer is None:
            log.info("a grant needs reconnecting; no GATEWAY_SMTP_URL, so its host sees it only")
            return
        user = self.users.get(uid)
        if user is None:
            return
        address = next(
            (i.email for i in user.identities if i.provider == record.provider and i.email),
            user.email,
        )
        if not address:
            return
        names = sorted((r.name if (r := self.rooms.get(i)) else i) for i in bound)
        subject, body = self.notice(names, record.provider, record.reason)
        threading.Thread(
            target=self.mailer.send, args=(address, subject, body), name="gateway-mail", daemon=True
        ).start()

    def notice(self, rooms: list[str], provider: str, reason: str) -> tuple[str, str]:
        """The e-mail: which rooms, why, what to do. Nothing of any calendar event."""
        title = self.titles.get(provider, provider)
        listed = ", ".join(rooms)
        which = "these rooms" if len(rooms) > 1 else "the room"
        subject = f"Reconnect your {title} calendar: {listed}"
        body = (
            f"The {title} calendar connection behind {which} {listed} stopped working.\n\n"
            f"Why: {reason or 'the provider no longer accepts it.'}\n\n"
            "Until you reconnect it, members see the room as needing reconnection and cannot "
            "tell when it is free.\n\n"
            f"Reconnect: sign in at {self.public_url}/account and press Reconnect.\n"
        )
        return subject, body

    # -- keeping rarely used grants alive --------------------------------------------------
    def keep_alive(self, now: float | None = None) -> int:
        """One pass: refresh every active grant not refreshed for a while; how many were."""
        now = now or time.time()
        refreshed = 0
        for uid, gid in self.grants.every_grant():
            record = self.grants.record(uid, gid)
            if record is None or not record.usable:
                continue
            if now - max(record.last_refreshed, record.created) < KEEP_ALIVE_AFTER_SECONDS:
                continue
            if self.idle_after and now - max(record.last_used, record.created) > self.idle_after:
                continue
            try:
                refreshed += self.grants.keep_alive(uid, gid)
            except (GrantUnavailable, ConnectorError, KeyRingIncomplete) as error:
                # an ended grant now shows to its host; a failing provider: the next pass
                log.info("keep-alive refresh not done (%s)", type(error).__name__)
        return refreshed

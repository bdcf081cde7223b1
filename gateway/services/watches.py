"""Provider channels on bound calendars: started, renewed, stopped, and what they tell.

A calendar bound to a room is watched when its provider opens channels and its grant's
scopes allow one (`Capabilities.can_watch`); every other calendar is polled as before, and
so is a watched one whose channel could not be opened (the public URL unreachable, the
provider refusing): the renewal job tries again every hour. `reconcile(uid)` makes a
user's channels match their bound calendars; it runs after every binding change, and the
renewal job runs it for every host.

A channel's secret (Google's channel token) is an HMAC of its id under a secret kept in
stable_secrets, so nothing about it is stored; what a notification does is
services/watch_notices.py's.
Channels are stopped on unbind, and before a revocation or an erasure shreds the tokens
their stop needs (`stop_grant`, a revocation hook). How long watched days stay fresh, and
what a lost channel changes: services/watch_freshness.py; what the pages say of each
calendar (watched, checked, polled): services/watch_states.py.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from connectors.base import Connector
from connectors.errors import ConnectorError
from gateway.services.grants import GrantEndings, GrantService, GrantUnavailable
from gateway.services.rooms import RoomService
from gateway.services.watch_freshness import WatchedDays
from gateway.services.watch_states import WatchStates
from gateway.storage.freebusy_cache import FreeBusyCache
from gateway.storage.watches import WatchRecord, WatchStore

log = logging.getLogger(__name__)

# gw<uid>.<gid>.<random>: opaque ids, so that a channel whose record is gone can still be
# stopped with its own grant; at most 64 characters (Google's limit on a channel id)
WATCH_ID = re.compile(r"^gw([A-Za-z0-9_-]{1,24})\.([A-Za-z0-9_-]{1,20})\.[A-Za-z0-9_-]{16}$")
TTL_SECONDS = 7 * 86_400  # Google's default and longest useful channel life
RENEW_AHEAD_SECONDS = 2 * 3600  # the hourly job renews a channel twice before it lapses
TOKEN_MARGIN_SECONDS = 60  # a token this close to expiry is not used without a refresh


class NotCurrent(Exception):
    """No current access token, and this call may not refresh one."""


class WatchService(WatchStates):
    def __init__(
        self,
        store: WatchStore,
        grants: GrantService,
        rooms: RoomService,
        connectors: Mapping[str, Connector],
        secret: Callable[[], bytes],
        public_url: str,
        *,
        closing: GrantEndings | None = None,
        cache: FreeBusyCache | None = None,
    ) -> None:
        self.store = store
        # how long watched days stay fresh, and back to the polled TTL when a channel is lost
        self.days = WatchedDays(store, rooms, self.calendar_mark, cache)
        self.grants = grants
        self.rooms = rooms
        self.connectors = {n: c for n, c in connectors.items() if c.capabilities.watch == "channel"}
        # providers without channels whose versions the worker checks (change_checks.py)
        self.checked = {n for n, c in connectors.items() if c.capabilities.watch == "check"}
        self.secret = secret
        self.public_url = public_url.rstrip("/")
        self._user_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        rooms.on_calendars_changed(self.calendars_changed)  # bound, unbound: (un)watched
        if closing is not None:  # a grant about to end: close its channels first
            closing.subscribe(self._close_grant)

    # -- secrets ------------------------------------------------------------------------------
    def _hmac(self, text: str) -> str:
        return hmac.new(self.secret(), text.encode(), hashlib.sha256).hexdigest()

    def channel_secret(self, watch_id: str) -> str:
        return self._hmac(f"channel|{watch_id}")

    def calendar_mark(self, gid: str, calendar: str) -> str:
        return self._hmac(f"calendar|{gid}|{calendar}")

    # -- which calendars are watched -----------------------------------------------------------
    def wanted(self, uid: str) -> dict[str, tuple[str, str, list[tuple[str, str]]]]:
        """mark -> (gid, calendar id, its (room, version) slots) of every bound calendar
        of `uid` that may be watched."""
        wanted: dict[str, tuple[str, str, list[tuple[str, str]]]] = {}
        for gid, calendar, slot, watchable in self._may_watch(uid):
            if watchable:
                mark = self.calendar_mark(gid, calendar)
                wanted.setdefault(mark, (gid, calendar, []))[2].append(slot)
        return wanted

    def unwatchable(self, uid: str) -> set[tuple[str, str]]:
        """The (room, version) slots of `uid` whose grant may watch but whose calendar its
        provider cannot watch (`Connector.can_watch_calendar`): polled, never tried."""
        return {slot for _, _, slot, watchable in self._may_watch(uid) if not watchable}

    def _may_watch(self, uid: str) -> list[tuple[str, str, tuple[str, str], bool]]:
        """(gid, calendar id, (room, version) slot, whether it can be watched) of every
        bound calendar of `uid` whose grant's provider and scopes allow channels."""
        by_grant: dict[str, list[tuple[str, str]]] = {}
        for found in self.rooms.binding_records(uid):
            by_grant.setdefault(found.gid, []).append((found.room_id, found.version))
        calendars = []
        for gid, slots in by_grant.items():
            record = self.grants.record(uid, gid)
            connector = self.connectors.get(record.provider) if record else None
            if record is None or connector is None or not record.usable:
                continue
            if not connector.capabilities.can_watch(record.scopes):
                continue
            for slot, calendar in self.rooms.calendars_of(uid, gid, slots).items():
                calendars.append((gid, calendar, slot, connector.can_watch_calendar(calendar)))
        return calendars

    def lost(self, record: WatchRecord) -> None:
        """A channel ended before its time (removed by the provider, failed): forgotten,
        and its calendar's cached days back on the polled TTL at once."""
        self.store.remove(record)
        self.days.back_to_polling(record)

    def calendars_changed(self, uid: str) -> None:
        """A binding of `uid` changed: `reconcile` now, in the request that changed it (a
        few Redis reads, and a provider call only for a calendar to watch or unwatch, with
        the grant's current access token: a refresh is left to free/busy and to the hourly
        job); a failure leaves the calendar polled."""
        self.quietly(self.reconcile, uid, False)

    def reconcile(self, uid: str, refresh: bool = True) -> tuple[int, int]:
        """Open a channel on every watchable bound calendar of `uid` without a live one
        (extending one about to lapse, where its provider can), and stop the channels of
        calendars no longer bound; (started or extended, stopped). Without `refresh`, only
        while the grant's access token is current."""
        with self._lock_of(uid):
            wanted = self.wanted(uid)
            started = stopped = 0
            live = time.time() + RENEW_AHEAD_SECONDS
            have: set[str] = set()
            for record in self.store.of_user(uid):
                if record.calendar_mark in wanted and record.expires_at > live:
                    have.add(record.calendar_mark)
                elif record.calendar_mark not in wanted:
                    stopped += self.stop(record, refresh)
                    self.days.back_to_polling(record)  # still bound, not watchable: polled
                elif record.calendar_mark not in have and self.extend(record, refresh):
                    have.add(record.calendar_mark)
                    started += 1
            for mark, (gid, calendar, _slots) in wanted.items():
                if mark not in have:
                    started += self.start(uid, gid, calendar, mark, refresh)
            return started, stopped

    def start(self, uid: str, gid: str, calendar: str, mark: str, refresh: bool = True) -> int:
        """Open one channel (replacing the calendar's older ones once it is open); 1 when
        it opened, 0 when the calendar stays polled."""
        record = self.grants.record(uid, gid)
        connector = self.connectors.get(record.provider) if record else None
        if record is None or connector is None:
            return 0
        watch_id = f"gw{uid}.{gid}.{secrets.token_urlsafe(12)}"
        if not WATCH_ID.match(watch_id):
            return 0  # ids longer than this gateway makes: not watched
        try:
            token = self.token(uid, gid, refresh)
            opened = connector.start_watch(
                token,
                calendar,
                watch_id=watch_id,
                address=f"{self.public_url}/webhooks/{connector.name}",
                secret=self.channel_secret(watch_id),
                ttl_seconds=TTL_SECONDS,
            )
        except (ConnectorError, GrantUnavailable, NotCurrent) as error:
            log.info("watch not opened: grant=%s, polled instead (%s)", gid, type(error).__name__)
            return 0
        older = [w for w in self.store.of_user(uid) if w.calendar_mark == mark]
        self.store.add(
            WatchRecord(
                watch_id, uid, gid, record.provider, mark, opened.resource_id, opened.expires_at
            )
        )
        for old in older:
            self.stop(old)
        return 1

    def extend(self, record: WatchRecord, refresh: bool = True) -> bool:
        """Extend a channel in place where its provider can (Graph's PATCH); False when it
        cannot or failed, and the caller opens another."""
        connector = self.connectors.get(record.provider)
        if connector is None or not connector.capabilities.watch_extends:
            return False
        try:
            token = self.token(record.uid, record.gid, refresh)
            expires_at = connector.renew_watch(
                token, record.watch_id, record.resource_id, TTL_SECONDS
            )
        except (ConnectorError, GrantUnavailable, NotCurrent) as error:
            log.info("watch not extended (%s); another is opened", type(error).__name__)
            return False
        if expires_at is None:
            return False
        self.store.add(replace(record, expires_at=expires_at))
        return True

    def stop(self, record: WatchRecord, refresh: bool = True) -> int:
        """Close one channel at the provider where the grant still allows; forget it (a
        channel left open is stopped when its next notification finds no record)."""
        connector = self.connectors.get(record.provider)
        closed = 0
        try:
            if connector is not None:
                token = self.token(record.uid, record.gid, refresh)
                closed = int(connector.stop_watch(token, record.watch_id, record.resource_id))
        except (ConnectorError, GrantUnavailable, NotCurrent) as error:
            log.info("watch not stopped at the provider (%s); it lapses", type(error).__name__)
        self.store.remove(record)
        return closed

    def stop_grant(self, uid: str, gid: str) -> int:
        """Close the channels of a grant about to end (before its tokens go)."""
        return sum(self.stop(w) for w in self.store.of_user(uid) if w.gid == gid)

    def _close_grant(self, uid: str, gid: str) -> dict[str, int]:
        """The revocation hook: the grant's channels stopped, counted per provider kind
        for the receipt (only those the provider confirmed; no channel or resource id)."""
        stopped: dict[str, int] = {}
        for record in self.store.of_user(uid):
            if record.gid == gid:
                stopped[record.provider] = stopped.get(record.provider, 0) + self.stop(record)
        return {kind: count for kind, count in stopped.items() if count}

    def renew(self, hosts: Callable[[], set[str]]) -> str:
        """The periodic job: every host's channels made to match their calendars, and
        channels about to lapse replaced (a channel cannot be extended: a new one opens)."""
        due = {
            w.uid
            for w in map(
                self.store.get, self.store.expiring_before(time.time() + RENEW_AHEAD_SECONDS)
            )
            if w is not None
        }
        started = stopped = 0
        for uid in sorted(due | hosts()):
            more, fewer = self.reconcile(uid)
            started, stopped = started + more, stopped + fewer
        return f"channels opened {started}, stopped {stopped}"

    # -- inside --------------------------------------------------------------------------------
    def token(self, uid: str, gid: str, refresh: bool = True) -> str:
        """An access token of the grant; without `refresh`, only a current one."""
        if refresh:
            return self.grants.access_token(uid, gid)
        tokens = self.grants.tokens_if_readable(uid, gid)
        if tokens is None or not tokens.access_token:
            raise NotCurrent("no access token")
        if (tokens.expires_at or 0) < time.time() + TOKEN_MARGIN_SECONDS:
            raise NotCurrent("the access token is due for a refresh")
        return tokens.access_token

    def _lock_of(self, uid: str) -> threading.Lock:
        with self._locks_lock:
            return self._user_locks.setdefault(uid, threading.Lock())

    @staticmethod
    def quietly(work: Callable[..., object], *args: object) -> None:
        """Run `work`; a failure is one log line (a background task, or one a request must
        not fail on), never a trace."""
        try:
            work(*args)
        except Exception as error:  # a background task: one line, never a trace
            log.warning("watch task failed (%s)", type(error).__name__)

"""What a provider's notification does: checked, then the calendar read again, debounced.

A notification counts only when its channel's secret (an HMAC of the channel id,
services/watches.py) checks in constant time; a duplicate or older message number is
ignored; a `sync` changes nothing. A valid change drops the calendar's cached days and the
answers generation, then reads the days again: once after a burst, and at most once a
second while notifications keep coming, claimed per calendar in Redis so that one process
does it (storage/watches.py). A channel of ours with no record is stopped.

The re-fetch runs on a small in-process executor rather than the worker queue: it must
start within the second, and the worker polls its queue once a tick and may not run at
all (tests, a single `flask run`); the claim in Redis keeps it once per calendar anyway.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from connectors.base import Connector
from connectors.errors import ConnectorError
from connectors.notifications import Handshake, Notification
from gateway.services.freebusy import FreeBusyService
from gateway.services.grants import GrantUnavailable
from gateway.services.watches import WATCH_ID, NotCurrent, WatchService
from gateway.storage.watches import WatchRecord, WatchStore

log = logging.getLogger(__name__)

CLAIM_MILLISECONDS = 30_000  # a re-fetch that died leaves its claim this long
UNKNOWN_GRACE_SECONDS = 2.0  # a channel being opened is stored within this
MIN_REFRESH_SECONDS = 1.0  # while notifications keep coming, one read a second at most


class UnknownProvider(LookupError):
    """The webhook names no provider with channels (404)."""


@dataclass(frozen=True)
class Outcome:
    """What the webhook answers: a handshake, or a status (202 taken, 204 ignored,
    403 refused: a forged secret)."""

    status: int
    handshake: Handshake | None = None


class WatchNotices:
    def __init__(
        self,
        store: WatchStore,
        watches: WatchService,
        freebusy: FreeBusyService,
        *,
        debounce_seconds: float = 0.3,
    ) -> None:
        self.store = store
        self.watches = watches
        self.freebusy = freebusy
        self.debounce_seconds = debounce_seconds
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="watch")

    def receive(
        self, provider: str, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> Outcome:
        """One webhook request. Raises `UnknownProvider`, `NotificationRefused` (4xx)."""
        connector = self.watches.connectors.get(provider)
        if connector is None:
            raise UnknownProvider(provider)
        read = connector.read_notification(headers, body, query)
        if isinstance(read, Handshake):
            return Outcome(200, read)
        statuses = [self._one(connector, note) for note in read]
        return Outcome(max(statuses) if statuses else 204)

    def _one(self, connector: Connector, note: Notification) -> int:
        if not WATCH_ID.match(note.watch_id):
            return 403  # never one of ours
        ours = hmac.compare_digest(
            note.secret.encode(), self.watches.channel_secret(note.watch_id).encode()
        )
        if not ours:
            return 403
        record = self.store.get(note.watch_id)
        if record is None or record.provider != connector.name:
            if note.state != "sync":  # a sync may come before `start` has stored its channel
                self.executor.submit(self.watches.quietly, self._stop_unknown, connector, note)
            return 202
        if note.number is not None and not self.store.newer(note.watch_id, note.number):
            return 202  # a duplicate or an older message: the newer one did the work
        if note.state == "sync":
            return 202
        if note.state in ("reauthorize", "removed"):  # the channel itself needs work
            renew = self._reauthorize if note.state == "reauthorize" else self._reopen
            self.executor.submit(self.watches.quietly, renew, record)
            if note.state == "reauthorize":
                return 202
        # "changed", "gone", "missed" (read again), "removed" (changes may have been lost)
        if self.store.claim_refresh(note.watch_id, CLAIM_MILLISECONDS):
            self.executor.submit(self.watches.quietly, self._refresh, record)
        return 202

    def _stop_unknown(self, connector: Connector, note: Notification) -> None:
        """A channel of ours the gateway no longer knows (its record went): stop it with
        the grant its id names, or else any live grant of the same provider (a channel
        belongs to the OAuth client, not to one grant)."""
        time.sleep(UNKNOWN_GRACE_SECONDS)
        if self.store.get(note.watch_id) is not None:
            return  # it was being stored as its first notification came
        named = WATCH_ID.match(note.watch_id)
        grants = [named.groups()] if named else []
        for watch_id in self.store.expiring_before(float("inf"), limit=20):
            other = self.store.get(watch_id)
            if other is not None and other.provider == connector.name:
                grants.append((other.uid, other.gid))
        for uid, gid in grants:
            try:
                token = self.watches.token(uid, gid)
                connector.stop_watch(token, note.watch_id, note.resource_id)
                log.info("an unknown channel was stopped")
                return
            except (ConnectorError, GrantUnavailable, NotCurrent):
                continue

    def _reauthorize(self, record: WatchRecord) -> None:
        """The provider wants the channel confirmed with a fresh token (Graph's
        reauthorizationRequired): extend it with one, or else open another."""
        if self.store.get(record.watch_id) is None or self.watches.extend(record):
            return
        self._reopen(record)

    def _reopen(self, record: WatchRecord) -> None:
        """The provider closed the channel (Graph's subscriptionRemoved), or would not
        extend it: forget it and open another on its calendar while it is bound."""
        if self.store.get(record.watch_id) is None:
            return  # replaced already (another notification, another process)
        self.store.remove(record)
        self.watches.reconcile(record.uid)

    def _slots(self, record: WatchRecord) -> list[tuple[str, str]]:
        """The (room, version) slots its calendar backs now (none once it is unbound)."""
        found = self.watches.wanted(record.uid).get(record.calendar_mark)
        return found[2] if found else []

    def _refresh(self, record: WatchRecord) -> None:
        """Read the calendar's days again: once after a burst of notifications, and while
        they keep coming, at most once per MIN_REFRESH_SECONDS."""
        watch_id = record.watch_id
        time.sleep(self.debounce_seconds)
        while True:
            try:
                while True:
                    started = time.monotonic()
                    self.store.take_dirty(watch_id)  # what came so far, this read covers
                    self.store.hold_refresh(watch_id, CLAIM_MILLISECONDS)
                    self.freebusy.refresh_slots(record.uid, record.gid, self._slots(record))
                    if not self.store.take_dirty(watch_id):
                        break
                    spent = time.monotonic() - started
                    time.sleep(max(self.debounce_seconds, MIN_REFRESH_SECONDS - spent))
            finally:
                self.store.release_refresh(watch_id)
            # a notification between the last look and the release: claim it again
            if not self.store.take_dirty(watch_id):
                return
            if not self.store.claim_refresh(watch_id, CLAIM_MILLISECONDS):
                return

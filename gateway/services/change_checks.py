"""Change checks: CalDAV and ICS calendars have no push, so their version is read cheaply
on a short interval instead (issue 15 item 3).

A provider whose `capabilities.watch` is "check" tells a calendar's version with one
cheap request that reads no event (`Connector.change_token`: CalDAV's sync-token or CTag,
one PROPFIND of depth 0; an ICS feed's conditional GET, a 304 while it is unchanged). The
worker's `check-changes` job (services/jobs.py) looks at every bound calendar of such a
provider every GATEWAY_CHANGE_CHECK_SECONDS. A calendar whose version moved goes the way
of a push notification (FreeBusyService.refresh_slots: its cached days and the answers'
generation dropped, the days read again): a change is a change whichever way it was seen,
and only the calendars that changed are read again. One whose version stayed costs that
one request and no free/busy call, and its days stay fresh for the watched TTL
(`lasting`), while its checks keep succeeding: a check that fails forgets the version and
puts the days back on the short TTL, so the calendar is polled until a check succeeds.

What is not covered: days cached under the watched TTL stay fresh that long if no worker
runs at all (the job's last success is on /metrics: gw_job_last_success_timestamp).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from connectors.base import Connector
from connectors.errors import ConnectorError
from gateway.services.freebusy import FreeBusyService
from gateway.services.freebusy_freshness import Asked, LastingSource
from gateway.services.grants import GrantEndings, GrantService, GrantUnavailable
from gateway.services.rooms import RoomService
from gateway.storage.change_checks import ChangeCheckStore, Seen

log = logging.getLogger(__name__)

LIVE_CHECKS = 3  # a version checked within this many intervals still vouches for the days


@dataclass(frozen=True)
class Checked:
    """One bound calendar to check: whose, which, and the room slots it backs."""

    uid: str
    gid: str
    provider: str
    calendar: str
    slots: tuple[tuple[str, str], ...]


class CheckedVersions:
    """What the checks saw, by calendar id (stored by a keyed hash of it), and which
    calendars they vouch for (`lasting`, given to free/busy)."""

    def __init__(
        self, store: ChangeCheckStore, mark: Callable[[str, str], str], interval_seconds: float
    ) -> None:
        self.store = store
        self.mark = mark  # (gid, calendar id) -> keyed hash: no calendar id is stored
        self.interval_seconds = interval_seconds

    def lasting(self, uid: str, gid: str, calendar_ids: Sequence[str]) -> dict[str, float]:
        """calendar id -> until when its changes are seen (without end while its checks
        succeed), for the calendars of grant `gid` checked lately."""
        return self._lasting(self.store.of_grant(uid, gid), gid, calendar_ids)

    def lasting_many(self, asks: Sequence[Asked]) -> list[dict[str, float]]:
        """`lasting` of each (uid, gid, calendar ids), their versions read at once."""
        seen = self.store.of_grants([(uid, gid) for uid, gid, _ in asks])
        return [self._lasting(s, gid, ids) for s, (_, gid, ids) in zip(seen, asks, strict=True)]

    def _lasting(
        self, seen: Mapping[str, Seen], gid: str, calendar_ids: Sequence[str]
    ) -> dict[str, float]:
        if not seen:
            return {}
        oldest = time.time() - LIVE_CHECKS * self.interval_seconds
        found = {}
        for calendar in calendar_ids:
            known = seen.get(self.mark(gid, calendar))
            if known is not None and known.checked_at >= oldest:
                found[calendar] = math.inf
        return found


class Either:
    """Calendars watched by any of `sources` (channels, change checks); a cold round asks
    each source once for all its grants (`many`)."""

    def __init__(self, *sources: LastingSource) -> None:
        self.sources = sources

    def __call__(self, uid: str, gid: str, calendar_ids: Sequence[str]) -> dict[str, float]:
        return _merged(source.lasting(uid, gid, calendar_ids) for source in self.sources)

    def many(self, asks: Sequence[Asked]) -> list[dict[str, float]]:
        answers = [source.lasting_many(asks) for source in self.sources]
        return [_merged(found) for found in zip(*answers, strict=True)] if answers else []


def _merged(found: Iterable[Mapping[str, float]]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for one in found:
        for calendar, until in one.items():
            merged[calendar] = max(merged.get(calendar, 0.0), until)
    return merged


def either(*sources: LastingSource) -> Either:
    """Calendars watched by any of `sources` (channels, change checks)."""
    return Either(*sources)


class ChangeChecks:
    def __init__(
        self,
        versions: CheckedVersions,
        grants: GrantService,
        rooms: RoomService,
        connectors: Mapping[str, Connector],
        freebusy: FreeBusyService,
        *,
        restricted_among: Callable[[set[str]], set[str]] = lambda _uids: set(),
        closing: GrantEndings | None = None,
    ) -> None:
        self.versions = versions
        self.store = versions.store
        self.grants = grants
        self.rooms = rooms
        self.connectors = {n: c for n, c in connectors.items() if c.capabilities.watch == "check"}
        self.freebusy = freebusy
        self.restricted_among = restricted_among
        if closing is not None:  # a grant about to end: its versions go with it
            closing.subscribe(self.store.forget_grant)

    def calendars(self) -> list[Checked]:
        """Every bound calendar of a checkable provider, of hosts not restricted."""
        hosts = {r.host for r in self.rooms.all() if r.host}
        hosts -= self.restricted_among(hosts)
        found: list[Checked] = []
        for uid in sorted(hosts):
            by_grant: dict[str, list[tuple[str, str]]] = {}
            for binding in self.rooms.binding_records(uid):
                by_grant.setdefault(binding.gid, []).append((binding.room_id, binding.version))
            for gid, slots in sorted(by_grant.items()):
                record = self.grants.record(uid, gid)
                if record is None or not record.usable or record.provider not in self.connectors:
                    continue
                by_calendar: dict[str, list[tuple[str, str]]] = {}
                for slot, calendar in self.rooms.calendars_of(uid, gid, slots).items():
                    by_calendar.setdefault(calendar, []).append(slot)
                for calendar, backed in sorted(by_calendar.items()):
                    found.append(Checked(uid, gid, record.provider, calendar, tuple(backed)))
        return found

    def check_all(self) -> str:
        """The periodic job: every checkable calendar's version read once."""
        outcomes: dict[str, int] = {}
        for checked in self.calendars():
            outcome = self.check(checked)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return ", ".join(f"{name} {outcomes.get(name, 0)}" for name in OUTCOMES)

    def check(self, checked: Checked) -> str:
        """One calendar: "same", "changed", "first" (nothing to compare with yet),
        "failed" or "unsupported" (the server gives no version: polled)."""
        uid, gid = checked.uid, checked.gid
        mark = self.versions.mark(gid, checked.calendar)
        known = self.store.of_grant(uid, gid).get(mark)
        connector = self.connectors[checked.provider]
        try:
            token = self.grants.access_token(uid, gid)
            version = connector.change_token(
                token, checked.calendar, known.version if known else None
            )
        except (ConnectorError, GrantUnavailable) as error:
            log.info("change check failed: grant=%s (%s)", gid, type(error).__name__)
            self._forget(checked, mark)
            return "failed"
        if version is None:
            self._forget(checked, mark)
            return "unsupported"
        self.store.saw(uid, gid, mark, Seen(version, time.time()))
        if known is None:
            return "first"
        if version == known.version:
            return "same"
        self.freebusy.refresh_slots(uid, gid, checked.slots)
        return "changed"

    def _forget(self, checked: Checked, mark: str) -> None:
        """No version vouches for the calendar now: its days, perhaps cached under the
        watched TTL, fall back to the polled one (served stale while the server fails,
        within the stale bound, as for any polled calendar)."""
        self.store.forget(checked.uid, checked.gid, mark)
        cache = self.freebusy.cache
        if cache.shorten(checked.uid, checked.gid, checked.slots):
            cache.bump_answers(settled=False)


OUTCOMES = ("same", "changed", "first", "failed", "unsupported")

"""Fetching an ICS feed (RFC 5545 text at a secret address) and what is remembered of it.

A feed is one GET through the outbound guard (connectors/outbound.py: https only, no
address inside the deployment, pinned, redirects checked, at most `FEED_BYTES` and the
caller's seconds), conditional when an earlier answer gave validators (RFC 7232: ETag as
`If-None-Match`, Last-Modified as `If-Modified-Since`). A 304 reuses the busy times parsed
from the last 200.

What is remembered, per grant, in this process's memory (`FeedMemo`): the validators, the
span the busy times were computed for and those busy times, next to a digest of the
address (a grant whose address changed never reuses another's). Never the feed's text and
never an event's fields: parsing keeps times only (connectors/ical_busy.py). Why memory and
not Redis: the gateway already caches each room's published busy time per day in Redis
for every process; this is only the provider-side saving (a 304 instead of a download and
a parse), worth nothing after a restart, and a second process simply downloads once more.
Entries go when the grant ends (`forget`, called through the connector's `forget_grant`
on every grant ending) and, past `MAX_REMEMBERED` grants, oldest first.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from connectors.errors import AuthorizationDenied, ConnectorError, ProviderUnavailable
from connectors.ical_busy import busy_of_calendar, times_only
from connectors.outbound import GuardedSession
from connectors.outbound_guard import OutboundGuard
from connectors.values import Busy

FEED_BYTES = 10 * 1024 * 1024  # a whole calendar, past included: more than a CalDAV answer
MAX_ADDRESS = 512  # the consent form's field takes no more
# The feed's address was reset at the provider (or never was one): the grant's matter.
GONE = frozenset({401, 403, 404, 410})
# Busy times are computed for the asked range and, when it is near today, for this much
# around today, so that the next queries, which ask about the coming days, are answered
# from a 304. Not more: expanding recurrences costs time in proportion to the span.
LOOK_BACK = timedelta(days=1)
LOOK_AHEAD = timedelta(days=31)
MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class FeedAddress:
    """The feed's address: a bearer secret (whoever has it reads the calendar)."""

    url: str = field(repr=False)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.url.encode()).hexdigest()

    @property
    def origin(self) -> str:
        return "{0.scheme}://{0.netloc}".format(urlsplit(self.url))


def typed_address(text: str | None) -> FeedAddress:
    """The consent form's address as a feed's URL: `webcal://` (RFC-less but universal:
    Apple, Google and Outlook hand out such links) is https; no scheme means https.
    Raises `AuthorizationDenied` with a message for the person."""
    url = (text or "").strip()
    if not url:
        raise AuthorizationDenied("Fill in the feed address.", code="missing_field")
    if len(url) > MAX_ADDRESS:
        raise AuthorizationDenied("The feed address is too long.", code="field_too_long")
    scheme, _, rest = url.partition("://")
    if not rest:
        scheme, rest = "https", url
    if scheme.lower() in ("webcal", "webcals"):
        scheme = "https"
    try:
        parts = urlsplit(f"{scheme.lower()}://{rest}")
    except ValueError:
        raise AuthorizationDenied("That is not a valid address.", code="not_a_url") from None
    return FeedAddress(urlunsplit(parts._replace(fragment="")))


@dataclass(frozen=True)
class Remembered:
    """What one grant's last 200 left: validators and busy times, nothing else."""

    digest: str
    etag: str | None
    last_modified: str | None
    span: tuple[datetime, datetime]
    busy: Busy

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.span[0] <= start and end <= self.span[1]


class FeedMemo:
    """Remembered feeds by grant id (thread-safe, bounded, in this process only)."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, Remembered] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, grant: str | None, address: FeedAddress) -> Remembered | None:
        if grant is None:
            return None
        with self._lock:
            found = self._entries.get(grant)
        return found if found is not None and found.digest == address.digest else None

    def of_address(self, address: FeedAddress) -> Remembered | None:
        """Any grant's entry for this address (a refresh knows no grant id)."""
        with self._lock:
            return next((r for r in self._entries.values() if r.digest == address.digest), None)

    def keep(self, grant: str | None, remembered: Remembered) -> None:
        if grant is None:
            return
        with self._lock:
            self._entries[grant] = remembered
            self._entries.move_to_end(grant)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def forget(self, grant: str) -> None:
        with self._lock:
            self._entries.pop(grant, None)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class FeedAnswer:
    status: int
    body: bytes = field(repr=False)
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends (RFC 7232): an ETag, a Last-Modified date."""

    etag: str | None
    last_modified: str | None


def change_token(answer: FeedAnswer) -> str:
    """A 200's version for the change checks: its validators and a digest of its body (a
    feed without validators still changes its token only when its content changes)."""
    digest = hashlib.sha256(answer.body).hexdigest()[:32]
    return json.dumps([answer.etag, answer.last_modified, digest])


def validators_of(token: str | None) -> Validators | None:
    """The validators a change token holds (None: not one of ours)."""
    try:
        etag, last_modified, _ = json.loads(token or "")
    except (ValueError, TypeError):
        return None
    return Validators(
        etag if isinstance(etag, str) else None,
        last_modified if isinstance(last_modified, str) else None,
    )


def fetch(
    address: FeedAddress,
    guard: OutboundGuard,
    ca_bundle: str | None,
    seconds: float,
    known: Remembered | Validators | None = None,
) -> FeedAnswer:
    """One GET of the feed, conditional when `known` has validators. Raises
    `AddressRefused`, or `ProviderUnavailable` (unreachable, slow, too large: code
    `too_large`)."""
    headers = {"Accept": "text/calendar, */*;q=0.5"}
    if known is not None and known.etag:
        headers["If-None-Match"] = known.etag
    if known is not None and known.last_modified:
        headers["If-Modified-Since"] = known.last_modified
    session = GuardedSession(guard, ca_bundle, total_seconds=seconds, max_bytes=FEED_BYTES)
    try:
        response = session.get(address.url, headers=headers)
    except ConnectorError:
        raise
    except Exception as error:  # requests/urllib3 failures the adapter did not map
        raise ProviderUnavailable(
            f"the feed's server did not answer ({type(error).__name__})"
        ) from None
    finally:
        session.close()
    return FeedAnswer(
        response.status_code,
        response.content,
        response.headers.get("ETag"),
        response.headers.get("Last-Modified"),
    )


def parse(body: bytes) -> icalendar.Calendar:
    """The feed's times as a calendar (`times_only`: every event field is dropped as text,
    before parsing); ValueError when it is not a calendar (an HTML page, garbage) or holds
    recurrences too frequent to expand."""
    try:
        calendar = icalendar.Calendar.from_ical(times_only(body))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        raise ValueError(f"not iCalendar ({type(error).__name__})") from None
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise ValueError("not a VCALENDAR")
    return calendar


def feed_zone(calendar: icalendar.Calendar) -> tzinfo:
    """The zone of the feed's floating times and all-day dates: its X-WR-TIMEZONE (what
    Google and Outlook publish), else UTC."""
    name = str(calendar.get("X-WR-TIMEZONE") or "").strip()
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def remember(
    answer: FeedAnswer, address: FeedAddress, start: datetime, end: datetime
) -> Remembered:
    """Parse a 200's feed into busy times for `start`..`end`, widened to the coming weeks
    when it is near today.
    Raises ValueError for a feed that is not a calendar or cannot be expanded."""
    calendar = parse(answer.body)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    near = (today - LOOK_BACK, today + LOOK_AHEAD)
    span = (start, end)
    if start < near[1] and end > near[0]:
        span = (min(start, near[0]), max(end, near[1]))
    try:
        busy = busy_of_calendar(calendar, *span, floating=feed_zone(calendar))
    except Exception as error:  # a member's server wrote it: any library error is its fault
        raise ValueError(f"the feed's events are unreadable ({type(error).__name__})") from None
    return Remembered(address.digest, answer.etag, answer.last_modified, span, busy)

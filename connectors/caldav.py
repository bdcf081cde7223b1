"""CalDAV (RFC 4791): iCloud, Fastmail, Nextcloud, Radicale ... with an app password.

A grant's credential is the server address, the user name and an app-specific password the
host typed on the gateway's consent page; it is checked at once (the principal is
discovered, RFC 4791 §6.2.1 / RFC 6764 §5: the address itself, else its
`/.well-known/caldav`) and then kept, sealed, as the grant's refresh token (and, for the
free/busy calls, as its access token: `refresh` checks the password again every hour, so a
password changed or revoked at the server ends the grant through the usual
`GrantInvalid` / `AccessRefused` path and its rooms answer `needs_reconnect`).

Free/busy: the `free-busy-query` REPORT (RFC 4791 §7.10) where the server answers it,
otherwise a `calendar-query` with a time range asking only for the properties busy time
needs (§9.6 partial retrieval; servers may send more), expanded here with
recurring-ical-events. Either way only start and end times leave this module: titles,
locations, descriptions, attendees and organizers are never read into a returned value.

Every request goes through `connectors.outbound` (the address is a member's input: SSRF):
the `caldav` library's own requests session is replaced by a guarded one before it sends
anything. caldav 1.x is used, not 2.x/3.x: those bring niquests (a second HTTP stack the
guard would have to cover), dnspython SRV lookups of their own and sleeps on 429.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urljoin, urlsplit

import caldav
import icalendar
import recurring_ical_events
from caldav.lib import error as caldav_error
from lxml import etree
from requests.auth import HTTPBasicAuth

from connectors.base import (
    AuthRequest,
    CalendarBusy,
    CalendarInfo,
    Capabilities,
    Connector,
    CredentialField,
    Identity,
    ProviderConfig,
    ProviderEnv,
    ProviderSpec,
    Setting,
    SettingError,
    TokenSet,
)
from connectors.errors import (
    AccessRefused,
    AuthorizationDenied,
    ConnectorError,
    GrantInvalid,
    ProviderUnavailable,
)
from connectors.outbound import Allowlist, GuardedSession, OutboundGuard

# The library logs whole requests and answers at DEBUG (event titles included): never.
logging.getLogger("caldav").disabled = True
log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 3600  # how long a checked password counts as an "access token"
RECHECK_SECONDS = 300  # after a check the server did not answer (the gateway refreshes
# a token 120 s before it expires: this is checked again about three minutes later)
CALL_SECONDS = 6.0  # one CalDAV call, redirects included (the free/busy deadline is 8 s)
MAX_FIELD = 512
# CalDAV has no scopes; the catalogue names what the gateway asks of the server with these.
SCOPES = ("caldav:free-busy",)
PRIMARY = "primary"  # the gateway's name for a grant's default calendar
DAV, CAL = "DAV:", "urn:ietf:params:xml:ns:caldav"
# The free-busy-query REPORT is missing (or refused) on servers that answer these.
NO_FREE_BUSY = frozenset({400, 403, 404, 405, 415, 422, 500, 501})
BUSY_PROPERTIES = (
    "UID",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "TRANSP",
    "STATUS",
)


@dataclass(frozen=True)
class Account:
    """What the host typed: the password is a secret and never shown or logged."""

    server_url: str
    username: str
    password: str = field(repr=False)
    principal: str | None = None
    primary: str | None = None  # the first calendar at connect time: the "primary" one

    def to_secret(self) -> str:
        return json.dumps(
            {
                "server_url": self.server_url,
                "username": self.username,
                "password": self.password,
                "principal": self.principal,
                "primary": self.primary,
            }
        )

    @classmethod
    def from_secret(cls, text: str | None) -> Account:
        try:
            data = json.loads(text or "")
            return cls(
                server_url=str(data["server_url"]),
                username=str(data["username"]),
                password=str(data["password"]),
                principal=data.get("principal"),
                primary=data.get("primary"),
            )
        except (TypeError, ValueError, KeyError):
            raise GrantInvalid("the grant holds no readable CalDAV account") from None


@dataclass(frozen=True, kw_only=True)
class CalDavConfig(ProviderConfig):
    allowlist: str = ""


class CalDavConnector(Connector):
    """A CalDAV account reached with an app password (no sign-in, no OAuth)."""

    kind = "caldav"
    default_title = "CalDAV"
    capabilities = Capabilities(
        sign_in=False,
        calendars=True,
        credential="app_password",
        can_revoke=False,  # an app password is revoked at the provider, by the person
        batch_size=10,  # one REPORT per calendar: keep a grant's call under the deadline
        window_limit=timedelta(days=62),
        addressing="listed",
    )
    credential_fields = (
        CredentialField("server_url", "Server address", "url", "url"),
        CredentialField("username", "User name", "text", "username"),
        CredentialField("password", "App password", "password", "off"),
    )
    credential_presets = (
        ("iCloud", "https://caldav.icloud.com/"),
        ("Fastmail", "https://caldav.fastmail.com/dav/"),
        ("Nextcloud", "https://nextcloud.example.org/remote.php/dav/"),
    )
    revoke_hint = (
        "Also revoke the app password at your calendar provider (iCloud: "
        "account.apple.com, Sign-In and Security, App-Specific Passwords; Fastmail: "
        "Settings, Privacy & Security, App passwords; Nextcloud: Settings, Security, "
        "Devices & sessions)."
    )

    def __init__(
        self, name: str = "caldav", *, allowlist: str = "", ca_bundle: str | None = None
    ) -> None:
        self.name = name
        self.title = self.default_title
        self.guard = OutboundGuard(Allowlist.parse(allowlist))
        self.ca_bundle = ca_bundle
        self.call_seconds = CALL_SECONDS

    @classmethod
    def from_config(cls, config: ProviderConfig, ca_bundle: str | None = None) -> CalDavConnector:
        allowlist = config.allowlist if isinstance(config, CalDavConfig) else ""
        return cls(config.name, allowlist=allowlist, ca_bundle=ca_bundle)

    # -- no redirect flow: the consent page's form is the authorization ---------------------
    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        raise AuthorizationDenied("CalDAV is connected with an app password, not a sign-in")

    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        raise AuthorizationDenied("CalDAV is connected with an app password, not a sign-in")

    def connect(self, fields: Mapping[str, str], scopes: tuple[str, ...]) -> Identity:
        """Check the typed account at once; raises `AuthorizationDenied` with a message for
        the person (wrong password, not a CalDAV server, refused address) or
        `ProviderUnavailable` (the server did not answer)."""
        account = _typed_account(fields)
        self.guard.check_url(account.server_url)  # refuse before sending the password
        with self._client(account) as client:
            principal = self._discover(client, account)
            calendars = self._calendars(client, principal)
        primary = calendars[0][0] if calendars else None
        checked = Account(
            account.server_url, account.username, account.password, principal, primary
        )
        secret = checked.to_secret()
        tokens = TokenSet(
            granted_scopes=frozenset(scopes),
            access_token=secret,
            expires_at=time.time() + CHECK_EVERY_SECONDS,
            refresh_token=secret,
        )
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(principal))
        return Identity(
            provider=self.name,
            issuer=origin,
            subject=principal,
            email=None,
            name=None,
            granted_scopes=frozenset(scopes),
            tokens=tokens,
        )

    # -- grants ------------------------------------------------------------------------------
    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """Check the kept password again (one PROPFIND); refused: `GrantInvalid`.

        A server that does not answer is not a refusal, and must not count against every
        CalDAV grant: the gateway's circuit breaker is per provider, and each member names
        their own server, so one dead (or deliberately black-holed) server would otherwise
        open it for all of them. So the check is retried a few minutes later, and the
        calls themselves report that server's calendars unknown (see `free_busy`)."""
        account = Account.from_secret(tokens.refresh_token)
        lasts = CHECK_EVERY_SECONDS
        try:
            with self._client(account) as client:
                self._discover(client, account)
        except AuthorizationDenied as denied:
            if denied.code != "invalid_credentials":
                lasts = RECHECK_SECONDS  # no principal there now: look again soon
            else:
                raise GrantInvalid(
                    "The CalDAV server no longer accepts this password", code=denied.code
                ) from None
        except ConnectorError:  # unreachable, slow, refused address: not the password
            lasts = RECHECK_SECONDS
        return TokenSet(
            granted_scopes=tokens.granted_scopes,
            access_token=tokens.refresh_token,
            expires_at=time.time() + lasts,
            refresh_token=tokens.refresh_token,
        )

    def revoke(self, tokens: TokenSet) -> bool:
        return False  # no revocation endpoint: the person revokes the app password there

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        account = Account.from_secret(access_token)
        with self._client(account) as client:
            names = self._calendars(client, account.principal)
        return [
            CalendarInfo(id=url, name=name, primary=index == 0, access_role="owner")
            for index, (url, name) in enumerate(names)
        ]

    def free_busy(
        self,
        access_token: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        grant: str | None = None,
    ) -> dict[str, CalendarBusy]:
        account = Account.from_secret(access_token)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        answers: dict[str, CalendarBusy] = {}
        unreachable: str | None = None
        # one call per calendar: all of them within one call's time, so a server that is
        # slow but never quite too slow cannot hold a worker for ten calls' worth
        budget = time.monotonic() + self.call_seconds
        with self._client(account) as client:
            for calendar_id in calendar_ids:
                if not unreachable and time.monotonic() > budget:
                    unreachable = "provider_slow"
                if unreachable:  # the same server: do not wait for it again
                    answers[calendar_id] = CalendarBusy(error=unreachable)
                    continue
                try:
                    url = calendar_id
                    if calendar_id == PRIMARY:
                        url = account.primary or next(
                            (u for u, _ in self._calendars(client, account.principal)), ""
                        )
                    if not url.startswith(("https://", "http://")):
                        answers[calendar_id] = CalendarBusy(error="no_such_calendar")
                        continue
                    answers[calendar_id] = self._calendar_busy(client, url, start, end)
                except AccessRefused:
                    raise  # the password: the grant's matter, not this calendar's
                except ConnectorError as error:
                    # This member's server failed: its calendars are unknown, and no
                    # ProviderUnavailable reaches the breaker every CalDAV grant shares.
                    unreachable = error.code
                    answers[calendar_id] = CalendarBusy(error=unreachable)
        return answers

    # -- CalDAV ------------------------------------------------------------------------------
    def _calendars(self, client: caldav.DAVClient, principal: str | None) -> list[tuple[str, str]]:
        """(URL, display name) of the principal's calendars, through the caldav library."""
        try:
            found = caldav.Principal(client=client, url=principal).calendars()
            return [(str(c.url), _display_name(c)) for c in found]
        except ConnectorError:
            raise
        except caldav_error.AuthorizationError:
            raise AuthorizationDenied(
                "The CalDAV server refused the password", code="invalid_token"
            ) from None
        except (caldav_error.DAVError, etree.LxmlError, ValueError, KeyError) as error:
            raise ProviderUnavailable(
                f"the CalDAV server's calendar list was unreadable ({type(error).__name__})"
            ) from None

    def _client(self, account: Account) -> caldav.DAVClient:
        client = caldav.DAVClient(
            account.server_url,
            username=account.username,
            password=account.password,
            timeout=max(1, int(self.call_seconds)),
            ssl_verify_cert=self.ca_bundle or True,
        )
        client.session.close()
        client.session = GuardedSession(self.guard, self.ca_bundle, total_seconds=self.call_seconds)
        # Basic at once: no unauthenticated round trip, and no library retry as a GET.
        client.auth = HTTPBasicAuth(account.username, account.password)
        return client

    def _discover(self, client: caldav.DAVClient, account: Account) -> str:
        """The principal's URL: current-user-principal at the typed address, else at its
        `/.well-known/caldav` (which the guarded session follows, checked, to its target)."""
        candidates = [account.server_url]
        well_known = urljoin(account.server_url, "/.well-known/caldav")
        if well_known != account.server_url:
            candidates.append(well_known)
        for url in candidates:
            principal = self._principal_at(client, url)
            if principal:
                return principal
        raise AuthorizationDenied(
            "That address does not look like a CalDAV server (no principal was found). "
            "Check the server address.",
            code="not_caldav",
        )

    def _principal_at(self, client: caldav.DAVClient, url: str) -> str | None:
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop>'
            "</d:propfind>"
        )
        response = self._request(client, url, "PROPFIND", body, {"Depth": "0"})
        if response.status == 401:
            raise AuthorizationDenied(
                "The server refused that user name and app password.", code="invalid_credentials"
            )
        if response.status >= 500 or response.status == 429:
            raise ProviderUnavailable(f"the CalDAV server answered {response.status}")
        if response.status != 207:
            return None
        href = _find_href(response.raw, f"{{{DAV}}}current-user-principal")
        return urljoin(str(response.url), href) if href else None

    def _request(
        self, client: caldav.DAVClient, url: str, method: str, body: str, headers: dict[str, str]
    ) -> _Answer:
        try:
            response = client.session.request(
                method,
                url,
                data=body.encode(),
                headers={"Content-Type": 'application/xml; charset="utf-8"', **headers},
                auth=client.auth,
            )
        except ConnectorError:
            raise
        except Exception as error:  # requests/urllib3 failures the adapter did not map
            raise ProviderUnavailable(
                f"the CalDAV server did not answer ({type(error).__name__})"
            ) from None
        return _Answer(response.status_code, response.content, response.url)

    def _calendar_busy(
        self, client: caldav.DAVClient, calendar_id: str, start: datetime, end: datetime
    ) -> CalendarBusy:
        free_busy = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<C:free-busy-query xmlns:C="{CAL}">'
            f'<C:time-range start="{_stamp(start)}" end="{_stamp(end)}"/>'
            "</C:free-busy-query>"
        )
        answer = self._request(client, calendar_id, "REPORT", free_busy, {"Depth": "1"})
        _raise_for_refusal(answer)
        if answer.status == 200:
            try:
                return CalendarBusy(busy=parse_free_busy(answer.raw, start, end))
            except ValueError:
                pass  # not an iCalendar answer: ask for the events instead
        elif answer.status not in NO_FREE_BUSY:
            return CalendarBusy(error=f"http_{answer.status}")
        return self._busy_from_events(client, calendar_id, start, end)

    def _busy_from_events(
        self, client: caldav.DAVClient, calendar_id: str, start: datetime, end: datetime
    ) -> CalendarBusy:
        """The fallback: a calendar-query for the events in range, busy times only."""
        props = "".join(f'<C:prop name="{p}"/>' for p in BUSY_PROPERTIES)
        query = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CAL}">'
            '<D:prop><C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/>'
            f'<C:comp name="VEVENT">{props}</C:comp><C:comp name="VTIMEZONE"/>'
            "</C:comp></C:calendar-data></D:prop>"
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{_stamp(start)}" end="{_stamp(end)}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        )
        answer = self._request(client, calendar_id, "REPORT", query, {"Depth": "1"})
        _raise_for_refusal(answer)
        if answer.status != 207:
            return CalendarBusy(error=f"http_{answer.status}")
        try:
            texts = _calendar_data(answer.raw)
            floating = self._calendar_timezone(client, calendar_id)
            return CalendarBusy(busy=busy_from_events(texts, start, end, floating))
        except (ValueError, KeyError, TypeError, etree.LxmlError) as error:
            log.warning("a CalDAV calendar answered unreadably (%s)", type(error).__name__)
            return CalendarBusy(error="malformed")

    def _calendar_timezone(self, client: caldav.DAVClient, calendar_id: str) -> tzinfo:
        """The calendar's CALDAV:calendar-timezone (floating times and all-day events are
        in it, RFC 4791 §5.2.2, §9.9); UTC when the server names none."""
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<D:propfind xmlns:D="DAV:" xmlns:C="{CAL}"><D:prop><C:calendar-timezone/>'
            "</D:prop></D:propfind>"
        )
        answer = self._request(client, calendar_id, "PROPFIND", body, {"Depth": "0"})
        if answer.status != 207:
            return UTC
        try:
            tree = etree.fromstring(answer.raw, parser=_PARSER)
            found = tree.find(f".//{{{CAL}}}calendar-timezone")
            if found is None or not (found.text or "").strip():
                return UTC
            return _zone_of(found.text or "")
        except (etree.LxmlError, ValueError):
            return UTC


@dataclass(frozen=True)
class _Answer:
    status: int
    raw: bytes
    url: str


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _raise_for_refusal(answer: _Answer) -> None:
    if answer.status == 401:
        raise AccessRefused("The CalDAV server refused the password")
    if answer.status == 429 or answer.status in (502, 503, 504):
        raise ProviderUnavailable(f"the CalDAV server answered {answer.status}")


def _typed_account(fields: Mapping[str, str]) -> Account:
    url = (fields.get("server_url") or "").strip()
    username = (fields.get("username") or "").strip()
    password = fields.get("password") or ""
    if not url or not username or not password:
        raise AuthorizationDenied(
            "Fill in the server address, the user name and the app password.",
            code="missing_field",
        )
    if max(len(url), len(username), len(password)) > MAX_FIELD:
        raise AuthorizationDenied("One of the fields is too long.", code="field_too_long")
    if "://" not in url:
        url = "https://" + url
    if not url.endswith("/") and not urlsplit(url).path.rsplit("/", 1)[-1].count("."):
        url += "/"
    return Account(url, username, password)


def _find_href(raw: bytes, tag: str) -> str | None:
    try:
        tree = etree.fromstring(raw, parser=_PARSER)
    except (etree.LxmlError, ValueError):
        return None
    for prop in tree.iter(tag):
        href = prop.find(f"{{{DAV}}}href")
        if href is not None and (href.text or "").strip():
            return (href.text or "").strip()
    return None


def _calendar_data(raw: bytes) -> list[str]:
    tree = etree.fromstring(raw, parser=_PARSER)
    return [e.text for e in tree.iter(f"{{{CAL}}}calendar-data") if e.text and e.text.strip()]


def _display_name(calendar: caldav.Calendar) -> str:
    try:
        name = calendar.get_display_name()
    except Exception:  # a name is a nicety: the URL will do
        name = None
    return str(name or str(calendar.url).rstrip("/").rsplit("/", 1)[-1])


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _zone_of(vcalendar_text: str) -> tzinfo:
    calendar = icalendar.Calendar.from_ical(vcalendar_text)
    for zone in calendar.walk("VTIMEZONE"):
        if isinstance(zone, icalendar.Timezone):
            return zone.to_tz()
    raise ValueError("no VTIMEZONE")


def _utc(value: date | datetime, floating: tzinfo) -> datetime:
    if not isinstance(value, datetime):  # an all-day date starts at midnight, local time
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=floating)
    return value.astimezone(UTC)


def _clip(
    periods: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> tuple[tuple[datetime, datetime], ...]:
    """Clipped to the asked range, sorted and merged; empty periods dropped."""
    clipped = sorted((max(s, start), min(e, end)) for s, e in periods if s < end and e > start)
    merged: list[tuple[datetime, datetime]] = []
    for s, e in clipped:
        if s >= e:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return tuple(merged)


def parse_free_busy(
    raw: bytes, start: datetime, end: datetime
) -> tuple[tuple[datetime, datetime], ...]:
    """Busy periods of a free-busy-query answer (text/calendar with VFREEBUSY).

    Two shapes are read: RFC 4791's one VFREEBUSY for the range with FREEBUSY periods
    (FBTYPE=FREE skipped; BUSY-TENTATIVE and BUSY-UNAVAILABLE count as busy), and older
    Radicale's one VFREEBUSY per busy interval, its DTSTART/DTEND the interval and no
    FREEBUSY. A lone VFREEBUSY without FREEBUSY spanning the asked range is the first
    shape with nothing busy. Raises ValueError for an answer that is not iCalendar."""
    calendar = icalendar.Calendar.from_ical(raw)
    components = list(calendar.walk("VFREEBUSY"))
    if not components:
        raise ValueError("no VFREEBUSY in the answer")
    periods: list[tuple[datetime, datetime]] = []
    for component in components:
        lines = component.get("FREEBUSY")
        if lines is None:
            low, high = component.get("DTSTART"), component.get("DTEND")
            if low is None or high is None:
                continue
            low_utc, high_utc = _utc(low.dt, UTC), _utc(high.dt, UTC)
            if len(components) == 1 and low_utc <= start and high_utc >= end:
                continue  # the range itself, nothing busy in it
            periods.append((low_utc, high_utc))
            continue
        for line in lines if isinstance(lines, list) else [lines]:
            if str(line.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                continue
            for period in line.dts if hasattr(line, "dts") else [line]:
                low, high = period.dt if hasattr(period, "dt") else period
                if isinstance(high, timedelta):
                    high = low + high
                periods.append((_utc(low, UTC), _utc(high, UTC)))
    return _clip(periods, start, end)


def busy_from_events(
    texts: Sequence[str], start: datetime, end: datetime, floating: tzinfo = UTC
) -> tuple[tuple[datetime, datetime], ...]:
    """Busy periods of VEVENTs (one VCALENDAR text per resource), recurrences expanded
    (RRULE, RDATE, EXDATE, overridden instances), TRANSP:TRANSPARENT and
    STATUS:CANCELLED free, floating and all-day times in `floating`. Nothing but the
    times is read."""
    periods: list[tuple[datetime, datetime]] = []
    margin = timedelta(days=2)  # floating times compare as wall time: widen, then clip
    for text in texts:
        calendar = icalendar.Calendar.from_ical(text)
        query = recurring_ical_events.of(calendar, components=["VEVENT"])
        for event in query.between(start - margin, end + margin):
            if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
                continue
            if str(event.get("STATUS", "CONFIRMED")).upper() == "CANCELLED":
                continue
            dtstart = event.get("DTSTART")
            if dtstart is None:
                continue
            low = _utc(dtstart.dt, floating)
            if event.get("DTEND") is not None:
                high = _utc(event["DTEND"].dt, floating)
            elif event.get("DURATION") is not None:
                high = low + event["DURATION"].dt
            elif not isinstance(dtstart.dt, datetime):
                high = low + timedelta(days=1)
            else:
                continue  # an instant takes no time (RFC 5545 §3.6.1)
            periods.append((low, high))
    return _clip(periods, start, end)


# -- configuration ------------------------------------------------------------------------------
def _configure(env: ProviderEnv) -> list[ProviderConfig]:
    """`GATEWAY_CALDAV_ENABLED=1` offers CalDAV; `GATEWAY_OUTBOUND_ALLOWLIST` lets it reach
    addresses inside the deployment (tests, an intranet server)."""
    enabled = (env.get(f"{PROVIDER.prefix}_ENABLED") or "0").lower()
    if enabled not in ("0", "1", "true", "false", "yes", "no"):
        raise SettingError(f"{PROVIDER.prefix}_ENABLED must be 0 or 1")
    if enabled not in ("1", "true", "yes"):
        return []
    allowlist = env.get("GATEWAY_OUTBOUND_ALLOWLIST") or ""
    try:
        Allowlist.parse(allowlist)
    except ValueError as error:
        raise SettingError(f"GATEWAY_OUTBOUND_ALLOWLIST: {error}") from None
    return [CalDavConfig(name=PROVIDER.kind, kind=PROVIDER.kind, allowlist=allowlist)]


PROVIDER = ProviderSpec(
    kind=CalDavConnector.kind,
    connector=CalDavConnector,
    settings=(Setting("ENABLED", "1: hosts may connect CalDAV calendars with an app password"),),
    configure=_configure,
    how_to_enable="GATEWAY_CALDAV_ENABLED=1",
)

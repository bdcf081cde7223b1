"""One conversation with a member's CalDAV server: principal discovery (RFC 4791 §6.2.1,
RFC 6764 §5), the calendar list, and one calendar's busy times (the free-busy-query REPORT,
else a calendar-query asking only for the times), over the outbound guard's session.

connectors/caldav.py decides what a grant is and what an answer means for it; this module
only talks to the server. Every answer is size- and time-capped by the guarded session,
and only times leave it (connectors/ical_busy.py reads the iCalendar).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from types import TracebackType
from urllib.parse import urljoin

import caldav
from caldav.lib import error as caldav_error
from lxml import etree
from requests.auth import HTTPBasicAuth

from connectors import caldav_dav as dav
from connectors.caldav_dav import Account
from connectors.errors import AuthorizationDenied, ConnectorError, ProviderUnavailable
from connectors.ical_busy import busy_from_events, parse_free_busy, zone_of
from connectors.outbound import GuardedSession
from connectors.outbound_guard import OutboundGuard
from connectors.values import CalendarBusy

# The library logs whole requests and answers at DEBUG (event titles included): never.
logging.getLogger("caldav").disabled = True
log = logging.getLogger("connectors.caldav")


class CalDavSession:
    """The `caldav` library's client for one account, its requests session replaced by a
    guarded one before it sends anything; use it as a context manager."""

    def __init__(
        self,
        account: Account,
        guard: OutboundGuard,
        ca_bundle: str | None,
        call_seconds: float,
    ) -> None:
        self.account = account
        self.client = caldav.DAVClient(
            account.server_url,
            username=account.username,
            password=account.password,
            timeout=max(1, int(call_seconds)),
            ssl_verify_cert=ca_bundle or True,
        )
        self.client.session.close()
        self.client.session = GuardedSession(guard, ca_bundle, total_seconds=call_seconds)
        # Basic at once: no unauthenticated round trip, and no library retry as a GET.
        self.client.auth = HTTPBasicAuth(account.username, account.password)

    def __enter__(self) -> CalDavSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.client.session.close()

    def calendars(self, principal: str | None) -> list[tuple[str, str]]:
        """(URL, display name) of the principal's calendars, through the caldav library."""
        try:
            found = caldav.Principal(client=self.client, url=principal).calendars()
            return [(str(c.url), dav.display_name(c)) for c in found]
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

    def discover(self) -> str:
        """The principal's URL: current-user-principal at the typed address, else at its
        `/.well-known/caldav` (which the guarded session follows, checked, to its target)."""
        candidates = [self.account.server_url]
        well_known = urljoin(self.account.server_url, "/.well-known/caldav")
        if well_known != self.account.server_url:
            candidates.append(well_known)
        for url in candidates:
            principal = self.principal_at(url)
            if principal:
                return principal
        raise AuthorizationDenied(
            "That address does not look like a CalDAV server (no principal was found). "
            "Check the server address.",
            code="not_caldav",
        )

    def principal_at(self, url: str) -> str | None:
        response = self._request(url, "PROPFIND", dav.PRINCIPAL_QUERY, {"Depth": "0"})
        if response.status == 401:
            raise AuthorizationDenied(
                "The server refused that user name and app password.", code="invalid_credentials"
            )
        if response.status >= 500 or response.status == 429:
            raise ProviderUnavailable(f"the CalDAV server answered {response.status}")
        if response.status != 207:
            return None
        href = dav.find_href(response.raw, f"{{{dav.DAV}}}current-user-principal")
        return urljoin(str(response.url), href) if href else None

    def _request(self, url: str, method: str, body: str, headers: dict[str, str]) -> dav.Answer:
        try:
            response = self.client.session.request(
                method,
                url,
                data=body.encode(),
                headers={"Content-Type": 'application/xml; charset="utf-8"', **headers},
                auth=self.client.auth,
            )
        except ConnectorError:
            raise
        except Exception as error:  # requests/urllib3 failures the adapter did not map
            raise ProviderUnavailable(
                f"the CalDAV server did not answer ({type(error).__name__})"
            ) from None
        return dav.Answer(response.status_code, response.content, response.url)

    def change_token(self, calendar_id: str) -> str | None:
        """The calendar's sync-token or CTag: one PROPFIND of depth 0, no event read."""
        answer = self._request(calendar_id, "PROPFIND", dav.CHANGE_QUERY, {"Depth": "0"})
        dav.raise_for_refusal(answer)
        if answer.status != 207:
            raise ProviderUnavailable(f"the CalDAV server answered {answer.status}")
        try:
            return dav.change_token(answer.raw)
        except (etree.LxmlError, ValueError):
            raise ProviderUnavailable("the CalDAV server's answer was unreadable") from None

    def calendar_busy(self, calendar_id: str, start: datetime, end: datetime) -> CalendarBusy:
        query = dav.free_busy_query(start, end)
        answer = self._request(calendar_id, "REPORT", query, {"Depth": "1"})
        dav.raise_for_refusal(answer)
        if answer.status == 200:
            try:
                return CalendarBusy(busy=parse_free_busy(answer.raw, start, end))
            except ValueError:
                pass  # not an iCalendar answer: ask for the events instead
        elif answer.status not in dav.NO_FREE_BUSY:
            return CalendarBusy(error=f"http_{answer.status}")
        return self._busy_from_events(calendar_id, start, end)

    def _busy_from_events(self, calendar_id: str, start: datetime, end: datetime) -> CalendarBusy:
        """The fallback: a calendar-query for the events in range, busy times only."""
        query = dav.events_query(start, end)
        answer = self._request(calendar_id, "REPORT", query, {"Depth": "1"})
        dav.raise_for_refusal(answer)
        if answer.status != 207:
            return CalendarBusy(error=f"http_{answer.status}")
        try:
            texts = dav.calendar_data(answer.raw)
            floating = self._calendar_timezone(calendar_id)
            return CalendarBusy(busy=busy_from_events(texts, start, end, floating))
        except (ValueError, KeyError, TypeError, etree.LxmlError) as error:
            log.warning("a CalDAV calendar answered unreadably (%s)", type(error).__name__)
            return CalendarBusy(error="malformed")

    def _calendar_timezone(self, calendar_id: str) -> tzinfo:
        """The calendar's CALDAV:calendar-timezone (floating times and all-day events are
        in it, RFC 4791 §5.2.2, §9.9); UTC when the server names none."""
        answer = self._request(calendar_id, "PROPFIND", dav.TIMEZONE_QUERY, {"Depth": "0"})
        if answer.status != 207:
            return UTC
        try:
            text = dav.calendar_timezone(answer.raw)
            return zone_of(text) if text else UTC
        except (etree.LxmlError, ValueError):
            return UTC

"""Free/busy from the providers' calendar APIs: busy start/end times and nothing else.

Graph's getSchedule returns subjects and locations of events; Google's freeBusy returns
errors per calendar inside a 200. Both are reduced here, at the boundary, to
`CalendarBusy`: a tuple of (start, end) pairs, or the provider's error for that calendar
(which the gateway publishes as "unknown", never as free). Nothing else crosses.

Whatever says "we don't know" is never read as free (PROTOCOLS.md §1.7, §2.6): a calendar
missing from the answer, per-calendar `errors`, a Graph schedule `error`, an answer that
does not cover the asked range, or a calendar without its busy list is that calendar's
error; a Graph item whose status is `unknown` (or any status but free and
workingElsewhere) is busy, and so is an availabilityView slot whose code is not 0 that no
busy item explains (codes other than 0-3 are not documented for Graph: busy).

A 401 is `AccessRefused` and a 403 other than a rate limit `ScopeRefused`: the grant's
state, not an outage (the free/busy service refreshes once, then ends the grant).
"""

from __future__ import annotations

import email.utils
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from connectors.errors import AccessRefused, ProviderUnavailable, ScopeRefused
from connectors.http import BoundedHttp

Busy = tuple[tuple[datetime, datetime], ...]
GOOGLE_CALENDAR_API = "https://www.googleapis.com/calendar/v3/"
GRAPH_API = "https://graph.microsoft.com"
# Graph freeBusyStatus values that mean free; every other one (busy, tentative, oof,
# unknown, a missing or a future value) is published as busy. scheduleItem.status: "free,
# tentative, busy, oof, workingElsewhere, unknown" (learn.microsoft.com/graph/api/
# resources/scheduleitem); availabilityView: "0= free or working elsewhere, 1= tentative,
# 2= busy, 3= out of office" (.../resources/scheduleinformation).
FREE_STATUSES = frozenset({"free", "workingelsewhere"})
# availabilityView codes (scheduleInformation): 0 free, 1 tentative, 2 busy, 3 out of office.
# Graph sends workingElsewhere as 0; 4 is EWS's "no data" in a merged view: not free.
VIEW_FREE = "0"
VIEW_BUSY = frozenset("123")
VIEW_INTERVAL_MINUTES = 30
# Google freeBusy 403 reasons that are rate limits (try later), not a refusal of the grant.
GOOGLE_RATE_LIMITS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
)


@dataclass(frozen=True)
class CalendarBusy:
    busy: Busy = ()
    error: str | None = None


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number (Graph sends fractions) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GoogleCalendarApi:
    """Calendar v3 through google-api-python-client (its bundled discovery document)."""

    MAX_CALENDARS = 50
    MAX_WINDOW = timedelta(days=60)  # Google refuses past ~90 days (PROTOCOLS §1.7)

    def __init__(self, api_base: str = GOOGLE_CALENDAR_API, ca_bundle: str | None = None):
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self.ca_bundle = ca_bundle
        self._local = threading.local()

    def _http(self, access_token: str) -> google_auth_httplib2.AuthorizedHttp:
        # httplib2 keeps the connection alive; one Http per thread (it is not thread-safe).
        # Connect (TCP and TLS) within 3 s, read within 10 s, as every provider call.
        base = getattr(self._local, "http", None)
        if base is None:
            base = BoundedHttp(self.ca_bundle)
            self._local.http = base
        # An access token alone: a 401 is the answer (AccessRefused), never a cue for
        # google-auth to try a refresh it cannot do (it would raise RefreshError instead).
        return google_auth_httplib2.AuthorizedHttp(
            Credentials(token=access_token), http=base, refresh_status_codes=()
        )

    def _service(self) -> Any:
        # A Resource is cheap to use but slow to build; one per thread, requests get their
        # own authorised http at execute time.
        service = getattr(self._local, "service", None)
        if service is None:
            service = build(
                "calendar",
                "v3",
                http=BoundedHttp(self.ca_bundle),  # static discovery: never used to call out
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.api_base},
            )
            self._local.service = service
        return service

    def free_busy(
        self,
        access_token: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        grant: str | None = None,
    ) -> dict[str, CalendarBusy]:
        body = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "timeZone": "UTC",
            "items": [{"id": cid} for cid in calendar_ids],
        }
        try:
            answer = (
                self._service()
                .freebusy()
                .query(body=body)
                .execute(http=self._http(access_token), num_retries=0)
            )
        except HttpError as error:
            raise _google_failure(error) from None
        except google.auth.exceptions.RefreshError:  # only if google-auth refreshes anyway
            raise AccessRefused("Google refused the access token") from None
        except (httplib2.HttpLib2Error, OSError, ValueError) as error:
            raise ProviderUnavailable(
                f"Google Calendar did not answer ({type(error).__name__})"
            ) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("calendars"), dict):
            raise ProviderUnavailable("Google Calendar answered without calendars")
        if not _covers(answer, start, end):
            return {cid: CalendarBusy(error="partial") for cid in calendar_ids}
        return {cid: _google_calendar(answer["calendars"].get(cid)) for cid in calendar_ids}

    def forget_grant(self, grant: str) -> None:
        """Nothing of a grant is kept between calls (each has its own authorised http)."""


def _covers(answer: dict[str, Any], start: datetime, end: datetime) -> bool:
    """The echoed timeMin/timeMax, where given, span the asked range (else: unknown)."""
    try:
        low = _utc(answer["timeMin"]) if "timeMin" in answer else start
        high = _utc(answer["timeMax"]) if "timeMax" in answer else end
    except (TypeError, ValueError, AttributeError):
        return False
    return low <= start and high >= end


def _google_calendar(entry: Any) -> CalendarBusy:
    """One calendar of a freeBusy answer; anything but a clean busy list is its error."""
    if not isinstance(entry, dict):
        return CalendarBusy(error="missing")
    errors = entry.get("errors")
    if errors is not None and errors != []:
        first = errors[0] if isinstance(errors, list) and errors else None
        reason = first.get("reason") if isinstance(first, dict) else None
        return CalendarBusy(error=str(reason or "error"))
    periods = entry.get("busy")
    if not isinstance(periods, list):  # no busy list is not an empty one
        return CalendarBusy(error="malformed")
    try:
        busy = tuple((_utc(p["start"]), _utc(p["end"])) for p in periods)
    except (KeyError, TypeError, ValueError, AttributeError):
        return CalendarBusy(error="malformed")
    if any(s >= e for s, e in busy):
        return CalendarBusy(error="malformed")
    return CalendarBusy(busy=busy)


def _google_failure(error: HttpError) -> Exception:
    status = int(error.resp.status)
    wait = retry_after(error.resp.get("retry-after"))
    details = error.error_details if isinstance(error.error_details, list) else []
    reasons = {str(d.get("reason")) for d in details if isinstance(d, dict)}
    if status == 401:
        return AccessRefused("Google refused the access token")
    if status == 403 and reasons and not reasons & GOOGLE_RATE_LIMITS:
        return ScopeRefused("Google refused this grant access to free/busy")
    if status in (403, 429) or status >= 500:
        return ProviderUnavailable(
            f"Google Calendar answered {status}", code="provider_busy", retry_after=wait
        )
    return ProviderUnavailable(f"Google Calendar refused the request ({status})", code="refused")


class GraphCalendarApi:
    """Microsoft Graph getSchedule, with requests (MSAL only provides the token)."""

    MAX_CALENDARS = 20  # schedules per getSchedule call
    MAX_WINDOW = timedelta(days=60)  # Graph: "less than 62 days"

    def __init__(self, session: requests.Session, graph_base: str = GRAPH_API) -> None:
        self.session = session
        self.graph_base = graph_base.rstrip("/")
        # grant id -> mailbox: "primary" costs one userinfo call per grant, not per fetch.
        # Never keyed by a token; `forget_grant` drops an entry when the grant ends.
        self._addresses: dict[str, str] = {}
        self._addresses_lock = threading.Lock()

    def _call(self, method: str, path: str, access_token: str, body: Any = None) -> Any:
        try:
            response = self.session.request(
                method,
                self.graph_base + path,
                headers={"Authorization": f"Bearer {access_token}"},
                json=body,
            )
        except requests.RequestException as error:
            raise ProviderUnavailable(
                f"Microsoft Graph did not answer ({type(error).__name__})"
            ) from None
        if response.status_code == 401:
            raise AccessRefused("Microsoft Graph refused the access token")
        if response.status_code == 403:  # Graph throttles with 429, never 403
            raise ScopeRefused("Microsoft Graph refused this grant access to calendars")
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(
                f"Microsoft Graph answered {response.status_code}",
                code="provider_busy",
                retry_after=retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code != 200:
            raise ProviderUnavailable(
                f"Microsoft Graph refused the request ({response.status_code})", code="refused"
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable("Microsoft Graph answered with a malformed body") from None

    def own_address(self, access_token: str, grant: str | None = None) -> str:
        """The signed-in mailbox, for the "primary" calendar (getSchedule wants addresses);
        remembered per `grant` when one is named."""
        known = self._addresses.get(grant) if grant else None
        if known:
            return known
        info = self._call("GET", "/oidc/userinfo", access_token)
        address = info.get("email") if isinstance(info, dict) else None
        if not isinstance(address, str) or "@" not in address:
            raise ProviderUnavailable("Microsoft did not say which mailbox is yours")
        if grant:
            with self._addresses_lock:
                if len(self._addresses) > 10_000:  # a bound, whatever happens to grants
                    self._addresses.clear()
                self._addresses[grant] = address
        return address

    def forget_grant(self, grant: str) -> None:
        """The grant ended (revoked, erased, refused): keep nothing of it."""
        with self._addresses_lock:
            self._addresses.pop(grant, None)

    def free_busy(
        self,
        access_token: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        grant: str | None = None,
    ) -> dict[str, CalendarBusy]:
        addresses = {
            cid: (self.own_address(access_token, grant) if cid == "primary" else cid)
            for cid in calendar_ids
        }
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        body = {
            "schedules": list(dict.fromkeys(addresses.values())),
            "startTime": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "endTime": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "availabilityViewInterval": VIEW_INTERVAL_MINUTES,
        }
        answer = self._call("POST", "/v1.0/me/calendar/getSchedule", access_token, body)
        values = answer.get("value") if isinstance(answer, dict) else None
        if not isinstance(values, list):
            raise ProviderUnavailable("Microsoft Graph answered without schedules")
        by_address = {
            str(v.get("scheduleId", "")).lower(): v for v in values if isinstance(v, dict)
        }
        return {
            cid: _graph_schedule(by_address.get(address.lower()), start, end)
            for cid, address in addresses.items()
        }


def _graph_schedule(entry: Any, start: datetime, end: datetime) -> CalendarBusy:
    """One scheduleInformation: its items' busy times plus every availabilityView slot that
    is not free and that no busy item explains (the view is the merged truth)."""
    if not isinstance(entry, dict):
        return CalendarBusy(error="missing")
    error = entry.get("error")
    if error is not None:
        code = error.get("responseCode") if isinstance(error, dict) else None
        return CalendarBusy(error=str(code or "error"))
    items = entry.get("scheduleItems")
    if not isinstance(items, list):
        return CalendarBusy(error="malformed")
    try:
        busy = [
            (_graph_time(item["start"]), _graph_time(item["end"]))
            for item in items
            if str(item.get("status", "")).lower() not in FREE_STATUSES
        ]
        busy += _view_busy(entry.get("availabilityView"), start, end, busy)
    except (KeyError, TypeError, ValueError, AttributeError):
        return CalendarBusy(error="malformed")
    return CalendarBusy(busy=tuple(sorted(busy)))


def _view_busy(
    view: Any, start: datetime, end: datetime, items: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The availabilityView slots to publish as busy: a code other than 0 where no busy
    item overlaps the slot (a code outside 0-3 whatever the items say). An absent view
    adds nothing; one of the wrong length is malformed (ValueError)."""
    if view is None or view == "":
        return []
    if not isinstance(view, str):
        raise ValueError("availabilityView is not a string")
    step = timedelta(minutes=VIEW_INTERVAL_MINUTES)
    if len(view) != math.ceil((end - start) / step):
        raise ValueError("availabilityView does not cover the asked range")
    slots = []
    for n, code in enumerate(view):
        if code == VIEW_FREE:
            continue
        low, high = start + n * step, min(start + (n + 1) * step, end)
        explained = any(s < high and e > low for s, e in items)
        if code not in VIEW_BUSY or not explained:
            slots.append((low, high))
    return slots


def _graph_time(value: dict[str, str]) -> datetime:
    if str(value.get("timeZone", "UTC")).upper() not in ("UTC", "ETC/UTC"):
        raise ValueError("a schedule time outside UTC")  # we always ask for UTC
    text = value["dateTime"]
    head, _, fraction = text.partition(".")
    moment = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return moment + timedelta(microseconds=int((fraction or "0")[:6].ljust(6, "0")))

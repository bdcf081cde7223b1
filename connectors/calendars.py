"""Free/busy from the providers' calendar APIs: busy start/end times and nothing else.

Graph's getSchedule returns subjects and locations of events; Google's freeBusy returns
errors per calendar inside a 200. Both are reduced here, at the boundary, to
`CalendarBusy`: a tuple of (start, end) pairs, or the provider's error for that calendar
(which the gateway publishes as "unknown", never as free). Nothing else crosses.
"""

from __future__ import annotations

import email.utils
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import google_auth_httplib2
import httplib2
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from connectors.errors import GrantInvalid, ProviderUnavailable
from connectors.http import BoundedHttp

Busy = tuple[tuple[datetime, datetime], ...]
GOOGLE_CALENDAR_API = "https://www.googleapis.com/calendar/v3/"
GRAPH_API = "https://graph.microsoft.com"
BUSY_STATUSES = frozenset({"busy", "tentative", "oof"})


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
        return google_auth_httplib2.AuthorizedHttp(Credentials(token=access_token), http=base)

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
        self, access_token: str, calendar_ids: Sequence[str], start: datetime, end: datetime
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
        except (httplib2.HttpLib2Error, OSError, ValueError) as error:
            raise ProviderUnavailable(
                f"Google Calendar did not answer ({type(error).__name__})"
            ) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("calendars"), dict):
            raise ProviderUnavailable("Google Calendar answered without calendars")
        return {cid: _google_calendar(answer["calendars"].get(cid)) for cid in calendar_ids}


def _google_calendar(entry: Any) -> CalendarBusy:
    if not isinstance(entry, dict):
        return CalendarBusy(error="missing")
    errors = entry.get("errors")
    if errors:
        reason = errors[0].get("reason") if isinstance(errors[0], dict) else None
        return CalendarBusy(error=str(reason or "error"))
    try:
        busy = tuple((_utc(p["start"]), _utc(p["end"])) for p in entry.get("busy", []))
    except (KeyError, TypeError, ValueError):
        return CalendarBusy(error="malformed")
    return CalendarBusy(busy=busy)


def _google_failure(error: HttpError) -> Exception:
    status = int(error.resp.status)
    wait = retry_after(error.resp.get("retry-after"))
    if status == 401:
        return GrantInvalid("Google refused the access token")
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
        # access token -> mailbox: "primary" costs one userinfo call per token, not per fetch
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
            raise GrantInvalid("Microsoft Graph refused the access token")
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

    def own_address(self, access_token: str) -> str:
        """The signed-in mailbox, for the "primary" calendar (getSchedule wants addresses)."""
        known = self._addresses.get(access_token)
        if known:
            return known
        info = self._call("GET", "/oidc/userinfo", access_token)
        address = info.get("email") if isinstance(info, dict) else None
        if not isinstance(address, str) or "@" not in address:
            raise ProviderUnavailable("Microsoft did not say which mailbox is yours")
        with self._addresses_lock:
            if len(self._addresses) > 10_000:  # tokens expire; never let this grow unbounded
                self._addresses.clear()
            self._addresses[access_token] = address
        return address

    def free_busy(
        self, access_token: str, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, CalendarBusy]:
        addresses = {
            cid: (self.own_address(access_token) if cid == "primary" else cid)
            for cid in calendar_ids
        }
        body = {
            "schedules": list(dict.fromkeys(addresses.values())),
            "startTime": {
                "dateTime": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "endTime": {
                "dateTime": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "availabilityViewInterval": 30,
        }
        answer = self._call("POST", "/v1.0/me/calendar/getSchedule", access_token, body)
        values = answer.get("value") if isinstance(answer, dict) else None
        if not isinstance(values, list):
            raise ProviderUnavailable("Microsoft Graph answered without schedules")
        by_address = {
            str(v.get("scheduleId", "")).lower(): v for v in values if isinstance(v, dict)
        }
        return {
            cid: _graph_schedule(by_address.get(address.lower()))
            for cid, address in addresses.items()
        }


def _graph_schedule(entry: Any) -> CalendarBusy:
    if not isinstance(entry, dict):
        return CalendarBusy(error="missing")
    if isinstance(entry.get("error"), dict):
        return CalendarBusy(error=str(entry["error"].get("responseCode") or "error"))
    try:
        busy = tuple(
            (_graph_time(item["start"]), _graph_time(item["end"]))
            for item in entry.get("scheduleItems", [])
            if str(item.get("status", "")).lower() in BUSY_STATUSES
        )
    except (KeyError, TypeError, ValueError):
        return CalendarBusy(error="malformed")
    return CalendarBusy(busy=busy)


def _graph_time(value: dict[str, str]) -> datetime:
    if str(value.get("timeZone", "UTC")).upper() not in ("UTC", "ETC/UTC"):
        raise ValueError("a schedule time outside UTC")  # we always ask for UTC
    text = value["dateTime"]
    head, _, fraction = text.partition(".")
    moment = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return moment + timedelta(microseconds=int((fraction or "0")[:6].ljust(6, "0")))

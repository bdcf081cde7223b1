"""Google Calendar: calendarList.list and freebusy.query, for the Google connector.

Through google-api-python-client (its bundled discovery document), up to 50 calendars per
freeBusy call. Google's freeBusy returns errors per calendar inside a 200; they are that
calendar's error (published "unknown"), as is a calendar missing from the answer, one
without its busy list, or an answer that does not cover the asked range (PROTOCOLS.md
§1.7). Only start and end times cross this module's boundary. Sign-in and the grant's
tokens are connectors/google.py's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import google.auth.exceptions
import google.oauth2.credentials
import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from connectors.errors import AccessRefused, AuthorizationDenied, ProviderUnavailable, ScopeRefused
from connectors.http import BoundedHttp, HttpPool, retry_after
from connectors.values import CalendarBusy, CalendarInfo

CALENDAR_LIST_PAGE = 250  # calendarList.list: "never larger than 250" entries a page
CALENDAR_LIST_PAGES = 20  # 5,000 calendars: more is a broken answer, not an account
RATE_LIMITS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
)


class GoogleCalendarApi:
    """The calendar half of the Google connector: `calendar_api` is the API's base URL."""

    calendar_api: str
    _ca_bundle: str | None
    _local: threading.local  # httplib2 for push channels' calls: one per thread
    _service: Any  # the built Resource, shared (None until first used)
    _service_lock: threading.Lock
    _freebusy: Any  # freebusy.query's request as the Resource made it (None until first used)
    _http_pool: HttpPool  # free/busy's connections, shared by every grant and thread

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        """The person's calendars (calendarList.list through google-api-python-client),
        primary first; needs a token with calendar.calendarlist.readonly or broader.

        Raises `AuthorizationDenied` when Google refuses the token (401, 403 other than a
        rate limit), `ProviderUnavailable` on 429/5xx, network failure or an unreadable answer.
        """
        transport = BoundedHttp(self._ca_bundle)
        credentials = google.oauth2.credentials.Credentials(token=access_token)
        # An access token alone: a 401 is an answer to report, not a cue to refresh here.
        http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=transport, refresh_status_codes=()
        )
        entries: list[dict[str, Any]] = []
        try:
            with build(
                "calendar",
                "v3",
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.calendar_api},
            ) as service:
                request = service.calendarList().list(maxResults=CALENDAR_LIST_PAGE)
                for _ in range(CALENDAR_LIST_PAGES):
                    if request is None:
                        break
                    page = request.execute(num_retries=1)
                    entries.extend(i for i in page.get("items", ()) if isinstance(i, dict))
                    request = service.calendarList().list_next(request, page)
        except HttpError as error:
            raise _calendar_error(error) from None
        except (httplib2.HttpLib2Error, OSError, ValueError, AttributeError) as error:
            raise ProviderUnavailable(
                f"Google's calendar list did not answer ({type(error).__name__})"
            ) from None
        finally:
            transport.close()
        calendars = [
            CalendarInfo(
                id=str(entry["id"]),
                name=str(entry.get("summaryOverride") or entry.get("summary") or entry["id"]),
                primary=entry.get("primary") is True,
                access_role=str(entry.get("accessRole", "")),
            )
            for entry in entries
            if isinstance(entry.get("id"), str) and entry.get("deleted") is not True
        ]
        return sorted(calendars, key=lambda c: not c.primary)

    # -- free/busy ---------------------------------------------------------------------------
    def _freebusy_http(self, access_token: str) -> google_auth_httplib2.AuthorizedHttp:
        # httplib2 keeps the connection alive; one Http per thread (it is not thread-safe).
        # Connect (TCP and TLS) within 3 s, read within 10 s, as every provider call.
        base = getattr(self._local, "http", None)
        if base is None:
            base = BoundedHttp(self._ca_bundle)
            self._local.http = base
        return _authorized(base, access_token)

    def _freebusy_service(self) -> Any:
        # A Resource is cheap to use but costly to build (its discovery document read and
        # parsed, about 0.6 ms of CPU on a quiet interpreter, several times that among a
        # fan-out's threads): one per connector, built once and shared by every thread. It only
        # describes the API: each request is executed with its caller's own authorised http
        # (`execute(http=...)`), so no connection or token is shared through it. One per
        # thread was a build per pool thread, 64 of them in a 200-grant cold fan-out.
        service = self._service
        if service is None:
            with self._service_lock:
                service = self._service
                if service is None:
                    service = self._service = build(
                        "calendar",
                        "v3",
                        http=BoundedHttp(self._ca_bundle),  # static discovery: never used
                        static_discovery=True,
                        cache_discovery=False,
                        client_options={"api_endpoint": self.calendar_api},
                    )
        return service

    def _freebusy_request(self, body: dict[str, Any]) -> HttpRequest:
        """freebusy.query's request for `body`, as the Resource's method makes it (URI,
        method, headers, the model that reads the answer), from one it made once: that
        method checks its parameters against the discovery document, expands the URI
        template and builds the headers on every call, about a tenth of a call's CPU, and
        none of it depends on the body. Executed as before, retries and errors included."""
        template: HttpRequest | None = self._freebusy
        if template is None:
            template = self._freebusy_service().freebusy().query(body={"items": []})
            self._freebusy = template
        model = template.postproc.__self__  # the JSON model whose response() reads answers
        return HttpRequest(
            template.http,
            template.postproc,
            template.uri,
            method=template.method,
            body=model.serialize(body),
            headers=dict(template.headers),
            methodId=template.methodId,
        )

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
            with self._http_pool.borrowed() as base:  # a connection of any grant's
                answer = self._freebusy_request(body).execute(
                    http=_authorized(base, access_token), num_retries=0
                )
        except HttpError as error:
            raise _freebusy_error(error) from None
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
        return {cid: _calendar_busy(answer["calendars"].get(cid)) for cid in calendar_ids}

    def forget_grant(self, grant: str) -> None:
        """Nothing of a grant is kept between calls (each has its own authorised http)."""


def _calendar_error(error: HttpError) -> Exception:
    """Map a Calendar API error by status and reason; its text is never quoted."""
    status = error.resp.status
    details = error.error_details if isinstance(error.error_details, list) else []
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    if status == 429 or status >= 500 or reasons & {"rateLimitExceeded", "userRateLimitExceeded"}:
        return ProviderUnavailable(f"Google's calendar list answered {status}")
    if status in (401, 403):
        code = "insufficient_scope" if "insufficientPermissions" in reasons else "invalid_token"
        return AuthorizationDenied("Google refused to list the calendars", code=code)
    return ProviderUnavailable(f"Google's calendar list answered {status}")


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _covers(answer: dict[str, Any], start: datetime, end: datetime) -> bool:
    """The echoed timeMin/timeMax, where given, span the asked range (else: unknown)."""
    try:
        low = _utc(answer["timeMin"]) if "timeMin" in answer else start
        high = _utc(answer["timeMax"]) if "timeMax" in answer else end
    except (TypeError, ValueError, AttributeError):
        return False
    return low <= start and high >= end


def _calendar_busy(entry: Any) -> CalendarBusy:
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


def _freebusy_error(error: HttpError) -> Exception:
    status = int(error.resp.status)
    wait = retry_after(error.resp.get("retry-after"))
    details = error.error_details if isinstance(error.error_details, list) else []
    reasons = {str(d.get("reason")) for d in details if isinstance(d, dict)}
    if status == 401:
        return AccessRefused("Google refused the access token")
    if status == 403 and reasons and not reasons & RATE_LIMITS:
        return ScopeRefused("Google refused this grant access to free/busy")
    if status in (403, 429) or status >= 500:
        return ProviderUnavailable(
            f"Google Calendar answered {status}", code="provider_busy", retry_after=wait
        )
    return ProviderUnavailable(f"Google Calendar refused the request ({status})", code="refused")


def _authorized(base: httplib2.Http, access_token: str) -> google_auth_httplib2.AuthorizedHttp:
    # An access token alone: a 401 is the answer (AccessRefused), never a cue for
    # google-auth to try a refresh it cannot do (it would raise RefreshError instead).
    return google_auth_httplib2.AuthorizedHttp(
        google.oauth2.credentials.Credentials(token=access_token),
        http=base,
        refresh_status_codes=(),
    )

"""Google Calendar push: `events.watch`, `channels.stop` and the notifications' headers.

A channel watches one calendar's events and lives until its expiration (Google cannot
renew one: the gateway opens another and stops the old). Google posts an empty body with
X-Goog-* headers: `sync` when the channel opens, `exists` on every change, `not_exists`
when the resource is gone; `X-Goog-Channel-Token` carries the token the watch was given,
`X-Goog-Message-Number` increases per channel
(https://developers.google.com/workspace/calendar/api/guides/push). A watch needs
`calendar.events.freebusy` or broader: `calendar.freebusy` alone does not allow one
(docs/PROVIDERS.md, from the Calendar v3 discovery document). Only ids and times cross this
module's boundary, never an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import google.auth.exceptions
import httplib2
from googleapiclient.errors import HttpError

from connectors.errors import AccessRefused, ProviderUnavailable, ScopeRefused
from connectors.notifications import Handshake, Notification, NotificationRefused, WatchStarted

AUTH = "https://www.googleapis.com/auth/"
# events.watch's scopes in the discovery document, narrowest first.
WATCH_SCOPES = frozenset(
    AUTH + s
    for s in (
        "calendar.events.freebusy",
        "calendar.events.owned.readonly",
        "calendar.events.readonly",
        "calendar.events.owned",
        "calendar.events",
        "calendar.readonly",
        "calendar",
    )
)
STATES = {"sync": "sync", "exists": "changed", "not_exists": "gone"}
MAX_HEADER = 512  # a channel id is at most 64 characters, a token at most 256


class GoogleWatchApi:
    """The push half of the Google connector (mixed into GoogleConnector, beside
    GoogleCalendarApi whose shared Resource and per-thread http it reuses)."""

    if TYPE_CHECKING:  # GoogleCalendarApi's, which comes first in GoogleConnector's bases

        def _freebusy_service(self) -> Any: ...
        def _freebusy_http(self, access_token: str) -> Any: ...

    def start_watch(
        self,
        access_token: str,
        calendar_id: str,
        *,
        watch_id: str,
        address: str,
        secret: str,
        ttl_seconds: int,
    ) -> WatchStarted:
        body = {
            "id": watch_id,
            "type": "web_hook",
            "address": address,
            "token": secret,
            "params": {"ttl": str(int(ttl_seconds))},
        }
        answer = self._call(
            access_token,
            lambda service: service.events().watch(calendarId=calendar_id, body=body),
            "events.watch",
        )
        try:
            return WatchStarted(
                watch_id=str(answer["id"]),
                resource_id=str(answer["resourceId"]),
                expires_at=int(answer["expiration"]) / 1000,
            )
        except (KeyError, TypeError, ValueError):
            raise ProviderUnavailable("Google answered events.watch without a channel") from None

    def stop_watch(self, access_token: str, watch_id: str, resource_id: str) -> bool:
        body = {"id": watch_id, "resourceId": resource_id}
        try:
            self._call(
                access_token, lambda service: service.channels().stop(body=body), "channels.stop"
            )
        except _NotFound:
            return True  # stopped already, or expired: nothing is left to stop
        return True

    def read_notification(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> list[Notification] | Handshake:
        named = {str(k).lower(): str(v) for k, v in headers.items()}  # any case, as HTTP

        def header(name: str, required: bool = True) -> str:
            value = named.get(name.lower(), "")
            if (required and not value) or len(value) > MAX_HEADER or not value.isprintable():
                raise NotificationRefused(f"{name} is missing or malformed")
            return value

        state = STATES.get(header("X-Goog-Resource-State"))
        if state is None:
            raise NotificationRefused("X-Goog-Resource-State is not one Google sends")
        number_text = header("X-Goog-Message-Number", required=False)
        if number_text and not (number_text.isdigit() and len(number_text) <= 18):
            raise NotificationRefused("X-Goog-Message-Number is not a number")
        return [
            Notification(
                watch_id=header("X-Goog-Channel-ID"),
                state=state,  # type: ignore[arg-type]  # one of STATES' values
                secret=header("X-Goog-Channel-Token", required=False),
                resource_id=header("X-Goog-Resource-ID"),
                number=int(number_text) if number_text else None,
            )
        ]

    def _call(self, access_token: str, build: Any, what: str) -> Any:
        try:
            return build(self._freebusy_service()).execute(
                http=self._freebusy_http(access_token), num_retries=0
            )
        except HttpError as error:
            status = int(error.resp.status)
            if status == 401:
                raise AccessRefused("Google refused the access token") from None
            if status == 403:
                details = error.error_details if isinstance(error.error_details, list) else []
                reasons = {str(d.get("reason")) for d in details if isinstance(d, dict)}
                if "insufficientPermissions" in reasons:
                    raise ScopeRefused(f"Google refused this grant {what}") from None
            if status == 404:
                raise _NotFound(f"Google knows no such channel ({what})") from None
            raise ProviderUnavailable(f"Google answered {what} with {status}") from None
        except google.auth.exceptions.RefreshError:
            raise AccessRefused("Google refused the access token") from None
        except (httplib2.HttpLib2Error, OSError, ValueError) as error:
            raise ProviderUnavailable(
                f"Google did not answer {what} ({type(error).__name__})"
            ) from None


class _NotFound(ProviderUnavailable):
    """404: no such channel (or calendar)."""

"""Microsoft Graph for the Microsoft connector: the host's mailbox and getSchedule.

getSchedule returns subjects and locations of events: they are dropped here, at the
boundary, leaving start and end times. Whatever says "we don't know" is never read as free
(PROTOCOLS.md §2.6): a schedule missing from the answer or with an `error` is that
calendar's error; an item whose status is `unknown` (or any status but free and
workingElsewhere) is busy, and so is an availabilityView slot whose code is not 0 that no
busy item explains (codes other than 0-3 are not documented for Graph: busy). Sign-in and
the grant's tokens are connectors/microsoft.py's.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.errors import AccessRefused, ProviderUnavailable, ScopeRefused
from connectors.fanout_http import FanoutHttp, NoAnswer
from connectors.http import retry_after
from connectors.values import CalendarBusy, CalendarInfo

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
# Authorities by name, and a tenant GUID.


class GraphCalendarApi:
    """The calendar half of the Microsoft connector, over Graph at `graph_base`."""

    graph_base: str
    _graph_session: FanoutHttp
    _addresses: dict[str, str]  # grant id -> its mailbox address ("primary")
    _addresses_lock: threading.Lock

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        """The calendars a host can pick: their own mailbox, named "primary".

        Graph's getSchedule (PROTOCOLS.md §2.6) names calendars by mailbox address, not by
        calendar id, so `GET /me/calendars` would offer nothing it can use; a room mailbox
        is chosen by typing its address instead. No call to Microsoft is needed.
        """
        return [CalendarInfo(id="primary", name="Your mailbox", primary=True, access_role="owner")]

    # -- free/busy (Graph getSchedule) -------------------------------------------------------
    def _graph_call(self, method: str, path: str, access_token: str, body: Any = None) -> Any:
        try:
            response = self._graph_session.call(
                method,
                self.graph_base + path,
                headers={"Authorization": f"Bearer {access_token}"},
                json=body,
            )
        except NoAnswer as error:
            raise ProviderUnavailable(f"Microsoft Graph did not answer ({error})") from None
        if 300 <= response.status_code < 400:  # never followed: as a call with no answer
            raise ProviderUnavailable("Microsoft Graph did not answer (a redirect)")
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
        info = self._graph_call("GET", "/oidc/userinfo", access_token)
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
        answer = self._graph_call("POST", "/v1.0/me/calendar/getSchedule", access_token, body)
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

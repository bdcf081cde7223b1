"""Microsoft Graph change notifications: a subscription per watched mailbox's events.

`POST /subscriptions` on `me/events` (the host's own mailbox, "primary") or
`users/{address}/events`, for created, updated and deleted events, without resource data:
a notification names the subscription and an event id, never an event's fields. Graph checks
the notification URL first (the validation handshake: `?validationToken=...`, echoed as
text/plain within 10 s) and sends lifecycle notifications (`reauthorizationRequired`,
`subscriptionRemoved`, `missed`) to the lifecycle URL; both go to the gateway's one webhook.
A subscription on events lives under 10,080 minutes and is extended with `PATCH`
(learn.microsoft.com/graph/api/subscription-post-subscriptions,
learn.microsoft.com/graph/change-notifications-delivery-webhooks,
learn.microsoft.com/graph/change-notifications-lifecycle-events).

Event subscriptions need `Calendars.Read` (delegated): the create-subscription permissions
table lists it, and not `Calendars.ReadBasic`, for events (docs/PROVIDERS.md). A delegated
permission covers only the signed-in user's own mailbox: Graph refuses a subscription on
another mailbox (a room's), which then stays polled: `can_watch_calendar` says so up front,
and the gateway does not try.

The `clientState` Graph echoes in every notification is `<watch id>:<secret>`: the gateway's
channel id and the HMAC it checks, so nothing about it needs storing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from connectors.errors import AccessRefused, ProviderUnavailable, ScopeRefused
from connectors.fanout_http import FanoutHttp, NoAnswer
from connectors.notifications import Handshake, Notification, NotificationRefused, WatchStarted

# The delegated permissions the subscription permissions table accepts for events (a
# subscription takes no write permission where a read one serves, but a grant holding one
# may still watch with it).
WATCH_SCOPES = frozenset({"Calendars.Read", "Calendars.ReadWrite"})
MAX_MINUTES = 10_080 - 10  # Graph's limit for events without resource data, less a margin
CHANGES = {"created": "changed", "updated": "changed", "deleted": "changed"}
LIFECYCLE = {
    "reauthorizationRequired": "reauthorize",
    "subscriptionRemoved": "removed",
    "missed": "missed",
}
MAX_CLIENT_STATE = 128  # the subscription resource's limit (255 in some versions of its page)
MAX_VALIDATION_TOKEN = 1024  # Graph's are ~110 characters; anything longer is not Graph's
MAX_ID = 128  # a subscription id is a GUID
MAX_ITEMS = 100  # notifications in one POST: Graph batches a few


class GraphWatchApi:
    """The push half of the Microsoft connector (mixed into MicrosoftConnector, beside
    GraphCalendarApi whose Graph session it reuses)."""

    graph_base: str
    _graph_session: FanoutHttp

    def can_watch_calendar(self, calendar_id: str) -> bool:
        """Only the host's own mailbox: a subscription on another one (a room mailbox typed
        by its address) needs an application permission, and Graph refuses a delegated
        grant's (403); the hourly renewal would try, and log it, for nothing."""
        return calendar_id == "primary"

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
        client_state = f"{watch_id}:{secret}"
        if ":" in watch_id or len(client_state) > MAX_CLIENT_STATE:
            raise ProviderUnavailable("a Graph clientState holds at most 128 characters")
        resource = (
            "me/events"
            if calendar_id == "primary"
            else f"users/{quote(calendar_id, safe='@')}/events"
        )
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": address,
            "lifecycleNotificationUrl": address,
            "resource": resource,
            "expirationDateTime": _expiry(ttl_seconds),
            "clientState": client_state,
        }
        answer = self._subscriptions("POST", "", access_token, body)
        try:
            return WatchStarted(
                watch_id=watch_id,
                resource_id=str(answer["id"]),
                expires_at=_seconds(str(answer["expirationDateTime"])),
            )
        except (KeyError, TypeError, ValueError):
            raise ProviderUnavailable("Graph answered without a subscription") from None

    def renew_watch(
        self, access_token: str, watch_id: str, resource_id: str, ttl_seconds: int
    ) -> float | None:
        """PATCH the subscription's expirationDateTime; its new expiry."""
        body = {"expirationDateTime": _expiry(ttl_seconds)}
        answer = self._subscriptions("PATCH", f"/{_id(resource_id)}", access_token, body)
        try:
            return _seconds(str(answer["expirationDateTime"]))
        except (KeyError, TypeError, ValueError):
            raise ProviderUnavailable("Graph answered a renewal without an expiry") from None

    def stop_watch(self, access_token: str, watch_id: str, resource_id: str) -> bool:
        try:
            self._subscriptions("DELETE", f"/{_id(resource_id)}", access_token)
        except _NotFound:
            return True  # deleted already, expired or removed: nothing is left to delete
        return True

    def read_notification(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> list[Notification] | Handshake:
        if "validationToken" in query:  # the handshake; the token is anyone's input
            token = query["validationToken"]
            if not token or len(token) > MAX_VALIDATION_TOKEN or not token.isprintable():
                raise NotificationRefused("validationToken is empty or malformed")
            return Handshake(body=token, content_type="text/plain")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested past any sense
            raise NotificationRefused("the body is not JSON") from None
        items = data.get("value") if isinstance(data, dict) else None
        if not isinstance(items, list) or not 0 < len(items) <= MAX_ITEMS:
            raise NotificationRefused("the body holds no `value` list of notifications")
        return [_notification(item) for item in items]

    def _subscriptions(
        self, method: str, path: str, access_token: str, body: Any = None
    ) -> dict[str, Any]:
        try:
            response = self._graph_session.call(
                method,
                f"{self.graph_base}/v1.0/subscriptions{path}",
                headers={"Authorization": f"Bearer {access_token}"},
                json=body,
            )
        except NoAnswer as error:
            raise ProviderUnavailable(f"Microsoft Graph did not answer ({error})") from None
        status = response.status_code
        if status == 401:
            raise AccessRefused("Microsoft Graph refused the access token")
        if status == 403:
            raise ScopeRefused("Microsoft Graph refused this grant a subscription")
        if status == 404:
            raise _NotFound("Microsoft Graph knows no such subscription")
        if status not in (200, 201, 204):
            raise ProviderUnavailable(f"Microsoft Graph answered {method} with {status}")
        if status == 204:
            return {}
        try:
            answer = response.json()
        except ValueError:
            raise ProviderUnavailable("Microsoft Graph answered with a malformed body") from None
        if not isinstance(answer, dict):
            raise ProviderUnavailable("Microsoft Graph answered with a malformed body")
        return answer


def _notification(item: Any) -> Notification:
    """One item of `value`, as plain values: no resource data is read."""
    if not isinstance(item, dict):
        raise NotificationRefused("a notification is not an object")
    subscription = item.get("subscriptionId")
    if not isinstance(subscription, str) or not 0 < len(subscription) <= MAX_ID:
        raise NotificationRefused("subscriptionId is missing or malformed")
    if "lifecycleEvent" in item:
        state = LIFECYCLE.get(str(item["lifecycleEvent"]))
    else:
        state = CHANGES.get(str(item.get("changeType")))
    if state is None:
        raise NotificationRefused("not a change or lifecycle event Graph sends")
    client_state = item.get("clientState")
    if not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE:
        client_state = ""  # a notification without ours is refused by the gateway (403)
    watch_id, _, secret = client_state.partition(":")
    return Notification(
        watch_id=watch_id,
        state=state,  # type: ignore[arg-type]  # one of CHANGES' or LIFECYCLE's values
        secret=secret,
        resource_id=subscription,
    )


def _expiry(ttl_seconds: int) -> str:
    seconds = min(int(ttl_seconds), MAX_MINUTES * 60)
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(stamp: str) -> float:
    """Graph's expirationDateTime (7 fractional digits, Z) as seconds since the epoch."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return moment.timestamp() + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)


def _id(resource_id: str) -> str:
    if not resource_id or len(resource_id) > MAX_ID:
        raise _NotFound("not a subscription id")
    return quote(resource_id, safe="")


class _NotFound(ProviderUnavailable):
    """404: no such subscription."""

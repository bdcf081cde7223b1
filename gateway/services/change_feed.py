"""The change feed: API clients are told, through a webhook of theirs, that a room changed.

An admin registers one https URL per API client; its signing secret (Standard Webhooks,
`whsec_` and base64) is shown once and kept sealed (storage/webhook_endpoints.py). The URL
must pass the same SSRF rules as a CalDAV server's address (connectors/outbound_guard.py):
no loopback, private, link-local or metadata target unless GATEWAY_OUTBOUND_ALLOWLIST lets
it through.

Two events, each to every client with an endpoint that may see the room (its audiences or
its own room list: the rules of the booking API): `room.availability.changed` with the room
and the changed span, and `room.status.changed` with the room and its status. Neither
carries anything of a calendar's events: a receiver asks the booking API what is busy now.
Each event gets one id, kept across retries, so a receiver can drop a duplicate; delivery
runs in the worker (change_feed_delivery.py).
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from connectors.errors import ConnectorError
from connectors.outbound_guard import OutboundGuard
from gateway.request_log import security_event
from gateway.services.api_clients import ApiClientError, ApiClientService, as_caller
from gateway.services.freebusy_answer import MAX_DAYS
from gateway.services.grants import GrantService
from gateway.services.intervals import rfc3339
from gateway.services.room_status import NEEDS_RECONNECT, OK, RESTRICTED, UNBOUND
from gateway.services.rooms import RoomService
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import ACTIVE
from gateway.storage.webhook_endpoints import WebhookEndpoint, WebhookEndpointStore

log = logging.getLogger(__name__)

AVAILABILITY_CHANGED = "room.availability.changed"
STATUS_CHANGED = "room.status.changed"
EVENTS = (AVAILABILITY_CHANGED, STATUS_CHANGED)  # what every endpoint receives
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
MAX_URL_LENGTH = 2000
# binding changes whose announcement comes from elsewhere (unbinding, rebinding) or none
TOLD_ELSEWHERE = frozenset({"grant-ended", "replace-grant", "room-deleted"})


GrantHook = Callable[[str, str, str], int]  # (uid, gid, actor) -> rooms changed
RebindHook = Callable[[str, str, str, str], int]  # (uid, old gid, new gid, actor)


class InvalidWebhook(ApiClientError):
    status, code = 400, "invalid_webhook"


class NoWebhook(ApiClientError):
    status, code = 404, "webhook_not_found"


class Queue(Protocol):
    def enqueue(self, delivery: dict[str, Any]) -> None: ...


class ChangeFeed:
    def __init__(
        self,
        store: WebhookEndpointStore,
        clients: ApiClientService,
        rooms: RoomService,
        guard: OutboundGuard,
        queue: Queue,
        audit: AuditTrail,
        grants: GrantService,
    ) -> None:
        self.store = store
        self.grants = grants
        self.clients = clients
        self.rooms = rooms
        self.guard = guard
        self.queue = queue
        self.audit = audit

    # -- endpoints (admins) -------------------------------------------------------------------
    def register(self, client_id: str, url: str, actor: str = "operator") -> str:
        """Set the client's endpoint; its new signing secret, which is not shown again.
        Raises ClientNotFound, InvalidWebhook (nothing stored)."""
        self.clients.require(client_id)
        url = url.strip()
        if not url or len(url) > MAX_URL_LENGTH:
            raise InvalidWebhook(f"the webhook URL must be 1 to {MAX_URL_LENGTH} characters")
        if not url.lower().startswith("https://"):
            raise InvalidWebhook("the webhook URL must be an https:// URL")
        try:
            self.guard.check_url(url)
        except ConnectorError as error:
            raise InvalidWebhook(f"the webhook URL is refused: {error.message}") from None
        secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        self.store.put(client_id, url, secret)
        self.audit.record(actor=actor, action="api_client.webhook", subject=f"client:{client_id}")
        security_event("api_client.webhook", "success", actor=actor, subject=client_id)
        return secret

    def remove(self, client_id: str, actor: str = "operator") -> None:
        self.clients.require(client_id)
        if self.store.delete(client_id):
            self.audit.record(
                actor=actor, action="api_client.webhook_delete", subject=f"client:{client_id}"
            )

    def endpoint(self, client_id: str) -> WebhookEndpoint | None:
        return self.store.get(client_id)

    def require_endpoint(self, client_id: str) -> WebhookEndpoint:
        """The client's endpoint; raises ClientNotFound, or NoWebhook when it has none."""
        self.clients.require(client_id)
        found = self.store.get(client_id)
        if found is None:
            raise NoWebhook(f"API client {client_id!r} has no webhook")
        return found

    def deliveries(self, client_id: str) -> list[dict[str, Any]]:
        """The last deliveries to the client's endpoint, newest first (the admin's log)."""
        return self.store.deliveries(client_id)

    # -- events -------------------------------------------------------------------------------
    def availability_changed(self, room_id: str, start: datetime, end: datetime) -> int:
        """The room's busy time in [start, end) may have changed; how many clients are told."""
        data = {"room": room_id, "start": rfc3339(start), "end": rfc3339(end)}
        return self._publish(AVAILABILITY_CHANGED, room_id, data)

    def calendar_changed(self, room_ids: list[str], days: set[date]) -> None:
        """A calendar behind these rooms changed and its cached `days` were read again
        (FreeBusyService.refresh_slots); with none cached, it may have changed anywhere
        within the longest query from today."""
        first = min(days, default=datetime.now(UTC).date())
        last = max(days, default=first + timedelta(days=MAX_DAYS - 1))
        start = datetime.combine(first, time.min, UTC)
        end = datetime.combine(last + timedelta(days=1), time.min, UTC)
        for room_id in room_ids:
            self.availability_changed(room_id, start, end)

    def status_changed(self, room_id: str, status: str) -> int:
        """The room's status is now `status` (ok, needs_reconnect, unbound, restricted...)."""
        return self._publish(STATUS_CHANGED, room_id, {"room": room_id, "status": status})

    # -- where statuses change (hooks the factory passes on) ----------------------------------
    def unbinding(self, unbind: GrantHook) -> GrantHook:
        """`unbind` (a grant's rooms lose its calendars), then each room left with no
        calendar is `unbound`, and one that kept another has changed availability."""

        def unbind_and_tell(uid: str, gid: str, actor: str) -> int:
            rooms = self._rooms_of(uid, gid)
            count = unbind(uid, gid, actor)
            for room_id in rooms:
                if self.rooms.bindings(room_id):
                    now = datetime.now(UTC)
                    self.availability_changed(room_id, now, now + timedelta(days=MAX_DAYS))
                else:
                    self.status_changed(room_id, UNBOUND)
            return count

        return unbind_and_tell

    def rebinding(self, rebind: RebindHook) -> RebindHook:
        """`rebind` (a reconnected grant takes over its predecessor's rooms): they are `ok`."""

        def rebind_and_tell(uid: str, old_gid: str, new_gid: str, actor: str) -> int:
            count = rebind(uid, old_gid, new_gid, actor)
            for room_id in self._rooms_of(uid, new_gid):
                self.status_changed(room_id, OK)
            return count

        return rebind_and_tell

    def room_calendars_changed(self, room_id: str, change: str, left: int) -> None:
        """A host or an admin changed the calendars behind a room: with none left it is
        `unbound`, its first calendar makes it `ok`, any other change its availability.
        A grant's ending and its replacement are told by `unbinding` and `rebinding`; a
        deleted room is no one's to tell about."""
        if change in TOLD_ELSEWHERE or left < 0:  # told elsewhere, or not known
            return
        if left == 0:
            self.status_changed(room_id, UNBOUND)
        elif change == "bind":
            self.status_changed(room_id, OK)
        else:
            now = datetime.now(UTC)
            self.availability_changed(room_id, now, now + timedelta(days=MAX_DAYS))

    def grant_lost(self, uid: str, gid: str) -> None:
        """The provider refused a grant still bound: its rooms need their host again."""
        for room_id in self._rooms_of(uid, gid):
            self.status_changed(room_id, NEEDS_RECONNECT)

    def restriction_changed(self, uid: str, restricted: bool) -> None:
        """A host restricted processing (their rooms are `restricted`) or lifted it: then
        each room is what /v1/freebusy would say of it (`room_status`)."""
        for room_id in self._rooms_of(uid):
            self.status_changed(room_id, RESTRICTED if restricted else self.room_status(room_id))

    def room_status(self, room_id: str) -> str:
        """The room's status as /v1/freebusy decides it before reading a calendar
        (FreeBusyService._availability): `unbound` with no calendar, `needs_reconnect` when
        a grant behind it ended, else `ok` (`unknown` comes only from a failed read, which
        this does not make: the next query tells)."""
        pointers = self.rooms.pointer_sets([room_id]).get(room_id)
        if not pointers:
            return UNBOUND
        states = self.grants.states([(uid, gid) for uid, gid, _ in pointers])
        if any(state is None or state[1] != ACTIVE for state in states):
            return NEEDS_RECONNECT
        return OK

    def _rooms_of(self, uid: str, gid: str | None = None) -> list[str]:
        """The rooms a calendar of `uid` backs (of grant `gid` only, when given)."""
        try:
            records = self.rooms.binding_records(uid)
            return sorted({b.room_id for b in records if gid is None or b.gid == gid})
        except Exception as error:  # the change itself goes on without its announcement
            log.warning("change feed: rooms not read (%s)", type(error).__name__)
            return []

    def _publish(self, kind: str, room_id: str, data: dict[str, str]) -> int:
        try:
            audience = self._audience(room_id)
            event_id = f"msg_{secrets.token_urlsafe(18)}"
            stamp = round(datetime.now(UTC).timestamp(), 3)  # ms: receivers order by it
            for client_id in audience:
                self.queue.enqueue(
                    {"client": client_id, "id": event_id, "type": kind, "at": stamp, "data": data}
                )
        except Exception as error:  # a change is never refused for want of a webhook
            log.warning("change feed: %s not queued (%s)", kind, type(error).__name__)
            return 0
        return len(audience)

    def _audience(self, room_id: str) -> list[str]:
        ids = self.store.client_ids()
        if not ids:
            return []
        room = self.rooms.get(room_id)
        if room is None:
            return []
        found = []
        for client_id in ids:
            try:
                client = self.clients.require(client_id)
            except ApiClientError:
                continue
            if not client.disabled and as_caller(client).can_see(
                room.id, room.visibility, room.host
            ):
                found.append(client_id)
        return found

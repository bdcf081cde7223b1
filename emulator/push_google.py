"""Google Calendar push: `events.watch`, `channels.stop` and the notifications (PROTOCOLS.md §1.10).

A channel watches one calendar's events. On creation Google posts a `sync` message, then an
`exists` message for every change, each a POST with an empty body and the X-Goog-* headers
(https://developers.google.com/workspace/calendar/api/guides/push). Which scopes allow the
calls comes from the Calendar v3 discovery document google-api-python-client ships
(revision 20261030): `calendar.freebusy` alone does not allow a watch.
"""

from __future__ import annotations

import hashlib
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from emulator.calendar import google_calendar_events
from emulator.calendar_busy import bearer
from emulator.calendar_list import calendar_ids
from emulator.deliveries import current_deliverer, deliverable
from emulator.errors import google_api_error
from emulator.faults import current_state, endpoint
from emulator.push_state import Channel, Delivery, now_ms
from emulator.records import Account
from emulator.state import EmulatorState

AUTH = "https://www.googleapis.com/auth/"
WATCH_SCOPES = frozenset(
    AUTH + s
    for s in (
        "calendar",
        "calendar.app.created",
        "calendar.events",
        "calendar.events.freebusy",
        "calendar.events.owned",
        "calendar.events.owned.readonly",
        "calendar.events.public.readonly",
        "calendar.events.readonly",
        "calendar.readonly",
    )
)
STOP_SCOPES = WATCH_SCOPES | frozenset(
    AUTH + s
    for s in (
        "calendar.acls",
        "calendar.acls.readonly",
        "calendar.calendarlist",
        "calendar.calendarlist.readonly",
        "calendar.settings",
        "calendar.settings.readonly",
    )
)
DEFAULT_TTL_SECONDS = 604_800  # events.watch reference: params.ttl defaults to a week
MAX_TTL_SECONDS = 10 * 365 * 86_400
MAX_CHANNEL_ID = 64


def invalid(reason: str, message: str, location: str | None = None) -> Response:
    extra = {"locationType": "other", "location": location} if location else {}
    return google_api_error(400, reason, message, domain="global", **extra)


def caller(scopes: frozenset[str]) -> tuple[Any, Account] | Response:
    found = bearer("google")
    if found is None:
        return google_api_error(
            401, "authError", "Invalid Credentials", locationType="header", location="Authorization"
        )
    if not scopes & set(found[0].scopes):
        return google_api_error(
            403, "insufficientPermissions", "Request had insufficient authentication scopes."
        )
    return found


def lifetime_ms(body: dict[str, Any]) -> int | None:
    """The channel's expiration: `expiration` (ms) if asked, else now + `params.ttl`."""
    if body.get("expiration") is not None:
        try:
            wanted = int(body["expiration"])
        except (TypeError, ValueError):
            return None
        return wanted if now_ms() < wanted <= now_ms() + MAX_TTL_SECONDS * 1000 else None
    params = body.get("params") or {}
    if not isinstance(params, dict):
        return None
    try:
        ttl = int(params.get("ttl", DEFAULT_TTL_SECONDS))
    except (TypeError, ValueError):
        return None
    return now_ms() + ttl * 1000 if 0 < ttl <= MAX_TTL_SECONDS else None


def watch(calendar_id: str) -> Response:
    found = caller(WATCH_SCOPES)
    if isinstance(found, Response):
        return found
    token, owner = found
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return invalid("parseError", "Parse Error")
    channel_id, address = body.get("id"), body.get("address")
    if not isinstance(channel_id, str) or not channel_id:
        return invalid("required", "Required", "id")
    if len(channel_id) > MAX_CHANNEL_ID or not channel_id.isprintable():
        return invalid("invalid", "Invalid channel id.", "id")
    if body.get("type") not in ("web_hook", "webhook"):
        return invalid("invalidChannelType", "Unknown channel type.", "type")
    if not isinstance(address, str) or not address:
        return invalid("required", "Required", "address")
    if not deliverable(address):
        return invalid("push.webhookUrlNotHttps", f"WebHook callback must be HTTPS: {address}")
    channel_token = body.get("token")
    if channel_token is not None and (
        not isinstance(channel_token, str) or len(channel_token) > 256
    ):
        return invalid("invalid", "Invalid channel token.", "token")
    expiration = lifetime_ms(body)
    if expiration is None:
        return invalid("invalid", "Invalid channel expiration.", "params.ttl")
    cid = calendar_id.lower()
    if cid == "primary":
        cid = owner.email
    state = current_state()
    if google_calendar_events(owner, cid) is None and cid not in calendar_ids(owner):
        return google_api_error(404, "notFound", "Not Found")
    person = cid == owner.email or state.account("google", cid) is not None
    with state.lock:
        if channel_id in state.channels:
            return invalid("channelIdNotUnique", f"Channel id {channel_id} not unique")
        channel = Channel(
            id=channel_id,
            resource_id=resource_id(cid),
            resource_uri=f"{state.base_url}/calendar/v3/calendars/{quote(cid, safe='@')}/events"
            "?alt=json",
            calendar_id=cid,
            address=address,
            token=channel_token,
            expiration_ms=expiration,
            account_key=token.account_key,
            client_id=token.client_id,
            owner=cid if person else None,
            calendar=None if person else cid,
        )
        state.channels[channel_id] = channel
    notify(state, channel, "sync")
    answer: dict[str, Any] = {
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": channel.resource_uri,
        "expiration": str(channel.expiration_ms),
    }
    if channel.token is not None:
        answer["token"] = channel.token
    return jsonify(answer)


def stop() -> Response:
    found = caller(STOP_SCOPES)
    if isinstance(found, Response):
        return found
    token, _ = found
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return invalid("parseError", "Parse Error")
    for name in ("id", "resourceId"):
        if not isinstance(body.get(name), str) or not body[name]:
            return invalid("required", "Required", name)
    state = current_state()
    with state.lock:
        channel = state.channels.get(body["id"])
        if (
            channel is None
            or channel.stopped
            or channel.resource_id != body["resourceId"]
            or channel.client_id != token.client_id
        ):
            return google_api_error(
                404, "notFound", f"Channel '{body['id']}' not found for project 'emulator'"
            )
        channel.stopped = True
    return Response(status=204)


def resource_id(calendar_id: str) -> str:
    """Opaque and stable per watched calendar, as Google's resourceId is."""
    return hashlib.sha256(f"resource:{calendar_id}".encode()).hexdigest()[:27]


def notify(state: EmulatorState, channel: Channel, resource_state: str) -> None:
    """Queue one message on `channel` (`sync`, `exists` or `not_exists`)."""
    with state.lock:
        channel.message_number += 1
        number = channel.message_number
    delivery = Delivery(
        kind="google",
        target=channel.id,
        url=channel.address,
        state=resource_state,
        message_number=number,
    )

    def build(forged: bool) -> tuple[dict[str, str], bytes | None]:
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": formatdate(channel.expiration_ms / 1000, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": resource_state,
            "X-Goog-Message-Number": str(number),
        }
        if channel.token is not None or forged:
            headers["X-Goog-Channel-Token"] = "forged" if forged else str(channel.token)
        return headers, b""

    current_deliverer().enqueue(delivery, build)


def event_changed(state: EmulatorState, owner: str, calendar: str) -> int:
    """An `exists` message on every live channel watching that calendar; how many."""
    with state.lock:
        watching = [c for c in state.channels.values() if c.live() and c.watches(owner, calendar)]
    for channel in watching:
        notify(state, channel, "exists")
    return len(watching)


def create_blueprint() -> Blueprint:
    bp = Blueprint("push_google", __name__)

    @bp.post("/calendar/v3/calendars/<path:calendar_id>/events/watch")
    @endpoint("google.watch")
    def events_watch(calendar_id: str) -> Any:
        return watch(calendar_id)

    @bp.post("/calendar/v3/channels/stop")
    @endpoint("google.channels_stop")
    def channels_stop() -> Any:
        return stop()

    return bp

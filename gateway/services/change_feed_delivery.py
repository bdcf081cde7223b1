"""Sending one change-feed event to one client's endpoint, as the worker's task does.

Signed as the Standard Webhooks spec says (the `standardwebhooks` package): headers
`webhook-id` (the event's id, the same on every retry, for the receiver to drop
duplicates), `webhook-timestamp` (seconds; a receiver refuses an old one: replay
protection) and `webhook-signature` (HMAC-SHA256 of id, timestamp and body under the
client's secret). Sent over the SSRF-guarded session (connectors/outbound.py): the address
checked again and pinned, at most TOTAL_SECONDS and MAX_ANSWER_BYTES of answer.

A 2xx is delivered; anything else raises DeliveryFailed, which the queue retries with
backoff (storage/webhook_queue.py) until the last attempt, logged as `failed`. Each attempt
updates the client's delivery log: type, room, time, status, attempts; never the body.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks import Webhook

from connectors.errors import ConnectorError
from connectors.outbound import GuardedSession
from connectors.outbound_guard import OutboundGuard
from gateway.services.api_clients import ApiClientError, ApiClientService
from gateway.storage.webhook_endpoints import WebhookEndpointStore
from gateway.storage.webhook_queue import RETRIES

log = logging.getLogger(__name__)

TOTAL_SECONDS = 5.0
MAX_ANSWER_BYTES = 16 * 1024


class DeliveryFailed(Exception):
    """The receiver did not take the event (retried)."""


class Deliverer:
    def __init__(
        self,
        store: WebhookEndpointStore,
        clients: ApiClientService,
        guard: OutboundGuard,
        ca_bundle: str | None = None,
    ) -> None:
        self.store = store
        self.clients = clients
        self.guard = guard
        self.ca_bundle = ca_bundle

    def deliver(self, delivery: dict[str, Any], attempt: int) -> None:
        """One attempt; raises DeliveryFailed for the queue to retry."""
        client_id = str(delivery["client"])
        endpoint = self.store.get(client_id)
        try:
            client = self.clients.require(client_id)
        except ApiClientError:
            return  # the client went: nothing to tell
        if endpoint is None or client.disabled:
            return
        event_id, kind = str(delivery["id"]), str(delivery["type"])
        data: dict[str, Any] = dict(delivery["data"])
        sent_at = datetime.now(UTC)
        body = json.dumps(
            {"type": kind, "timestamp": _iso_ms(float(delivery["at"])), "data": data},
            separators=(",", ":"),
        )
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(endpoint.secret).sign(event_id, sent_at, body),
            "Content-Type": "application/json",
        }
        outcome = self._post(endpoint.url, body, headers)
        last = attempt > RETRIES
        status = "delivered" if outcome == "ok" else "failed" if last else "retrying"
        self.store.log(
            client_id,
            event_id,
            {
                "type": kind,
                "room": data.get("room"),
                "at": _iso(time.time()),
                "status": status,
                "answer": outcome,
                "attempts": attempt,
            },
        )
        if outcome != "ok" and not last:
            raise DeliveryFailed(outcome)
        if outcome != "ok":
            log.warning("webhook to client %s failed after %d attempts", client_id, attempt)

    def _post(self, url: str, body: str, headers: dict[str, str]) -> str:
        """'ok', the receiver's status, or why nothing was answered (no URL, no body)."""
        session = GuardedSession(self.guard, self.ca_bundle, TOTAL_SECONDS, MAX_ANSWER_BYTES)
        try:
            answer = session.post(url, data=body.encode(), headers=headers, timeout=TOTAL_SECONDS)
            answer.close()
        except ConnectorError as error:
            return error.code
        except (requests.RequestException, OSError) as error:
            return type(error).__name__
        finally:
            session.close()
        return "ok" if 200 <= answer.status_code < 300 else str(answer.status_code)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(timestamp: float) -> str:
    """When the change was seen, to the millisecond: deliveries run in parallel and are
    retried, so a receiver orders a room's events by this, not by their arrival."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

"""Pending sign-in flows: kept server-side, keyed by `state`, single-use, ten minutes at most.

The record holds the PKCE verifier and nonce, so it never travels in a cookie or URL. Taking
it deletes it in the same command (GETDEL), so a replayed callback finds nothing.
Microsoft's form_post callback arrives as a cross-site POST without our SameSite=Lax cookie;
its parameters are parked next to the flow and picked up by a same-site GET that does carry
the session, where the usual checks run.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from gateway.storage import keys
from gateway.storage.readable import unreadable

FLOW_TTL_SECONDS = 600


class FlowStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int = FLOW_TTL_SECONDS) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    def put(self, state: str, record: dict[str, Any]) -> None:
        self.client.set(keys.flow(state), json.dumps(record), ex=self.ttl_seconds, nx=True)

    def park_response(self, state: str, params: dict[str, str]) -> bool:
        """Keep a form_post callback's parameters until the browser comes back; first wins."""
        if not self.client.exists(keys.flow(state)):
            return False
        stored = self.client.set(
            keys.flow_response(state), json.dumps(params), ex=self.ttl_seconds, nx=True
        )
        return bool(stored)

    def take(self, state: str) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
        """The flow and any parked response, both deleted in the same round trip."""
        pipe = self.client.pipeline(transaction=True)
        pipe.getdel(keys.flow(state))
        pipe.getdel(keys.flow_response(state))
        try:
            raw_flow, raw_response = pipe.execute()
        except UnicodeDecodeError:  # not ours; both are deleted all the same (GETDEL ran)
            unreadable("sign-in flow")
            return None, None
        record = _load(raw_flow, "sign-in flow")
        parked = _load(raw_response, "parked sign-in response")
        if record is not None and not isinstance(record.get("flow"), dict):
            unreadable("sign-in flow")
            record = None
        if parked is not None and not all(isinstance(v, str) for v in parked.values()):
            unreadable("parked sign-in response")
            parked = None
        return record, parked


def _load(raw: str | None, what: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        value = None
    if not isinstance(value, dict):
        unreadable(what)
        return None
    return value

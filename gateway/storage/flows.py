"""Spent sign-in states: the one thing Redis holds of a sign-in flow, and only at its callback.

A pending flow (PKCE verifier, nonce, where to go next) travels sealed in the browser's flow
cookie (services/signin.py), so starting a sign-in stores nothing: anyone can start one,
and a flood of starts costs no memory. What a cookie cannot do is be forgotten by an
attacker who copied it; so a callback first claims its state here, once: `SET NX` of the
state's hash, expiring when the flow would have. A second callback with the same state
finds the claim and is refused before any code is redeemed.
"""

from __future__ import annotations

import math

import redis

from gateway.storage import keys

FLOW_TTL_SECONDS = 600


class FlowStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int = FLOW_TTL_SECONDS) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    def claim(self, state: str, seconds_left: float) -> bool:
        """True for the first callback of `state`; the claim outlives the flow by < 1 s."""
        ttl = max(1, math.ceil(seconds_left))
        return bool(self.client.set(keys.flow_spent(state), "1", ex=ttl, nx=True))

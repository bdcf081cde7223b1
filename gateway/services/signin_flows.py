"""The browser's pending sign-in flows, sealed in its flow cookie (nothing in Redis).

At most `MAX_PENDING_FLOWS` flows, each readable for the flow lifetime; when the sealed
cookie would outgrow what browsers keep, the oldest flows are dropped. An altered or foreign
cookie holds no flow.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.crypto.sealed import SealedBox

MAX_PENDING_FLOWS = 5
MAX_COOKIE_CHARS = 3800  # browsers keep cookies up to 4096 bytes, name and attributes included

Flow = dict[str, Any]  # state digest, provider, next path, link uid, purpose, flow, started


class PendingFlows:
    def __init__(self, secret_key: str, fallbacks: tuple[str, ...], ttl_seconds: float) -> None:
        self.box = SealedBox(secret_key, "sign-in flows", fallbacks)
        self.ttl_seconds = ttl_seconds

    def open(self, pending: str | None) -> list[Flow]:
        """The browser's unexpired flows; an altered or foreign cookie holds none."""
        opened = self.box.open(pending)
        if not isinstance(opened, list):
            return []
        oldest = time.time() - self.ttl_seconds
        return [
            f
            for f in opened
            if isinstance(f, dict)
            and isinstance(f.get("flow"), dict)
            and isinstance(f.get("started"), int | float)
            and f["started"] > oldest
        ]

    def seal(self, flows: list[Flow]) -> str:
        return self.box.seal(flows, self.ttl_seconds)

    def added(self, pending: str | None, flow: Flow) -> str:
        """The cookie's new value with `flow` added, the oldest dropped to fit."""
        flows = [*self.open(pending), flow][-MAX_PENDING_FLOWS:]
        sealed = self.seal(flows)
        while len(sealed) > MAX_COOKIE_CHARS and len(flows) > 1:
            flows = flows[1:]
            sealed = self.seal(flows)
        return sealed

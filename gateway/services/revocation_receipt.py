"""A revocation's progress and what its receipt says.

An `Ending` is one revocation after its secrets were deleted: the steps still to do are noted
on it as they complete, so that a revocation Redis refused to finish (its memory limit) is
finished later from the JSON kept of it (services/revocation.py). The receipt's body lists
what was deleted and whether the provider was told; the service signs it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.services.disk_scrub import DiskStatus


@dataclass
class Ending:
    """One revocation after its secrets were deleted: what the rest needs, and how far it
    got (a revocation at Redis's memory limit is finished later, from this)."""

    uid: str
    gid: str
    reason: str
    actor: str
    forget: bool
    provider: str
    purpose: str
    had_tokens: bool
    provider_result: str | None
    cached: int
    disk: DiskStatus | None
    receipt_id: str
    at: float
    marked: bool = False
    bindings: int | None = None
    audited: bool = False
    channels: dict[str, int] = field(default_factory=dict)  # stopped, per provider kind

    def to_json(self) -> str:
        return as_json(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Ending:
        fields = json.loads(text)
        disk = fields.pop("disk")
        return cls(**fields, disk=DiskStatus(**disk) if disk else None)


def receipt_body(ending: Ending, *, pending: bool = False) -> dict[str, Any]:
    """The receipt before signing; `pending` when Redis has not yet taken steps 2b-5."""
    body: dict[str, Any] = {
        "receipt": ending.receipt_id,
        "kind": "grant-revocation",
        "at": ending.at,
        "grant": ending.gid,
        "provider": ending.provider,
        "purpose": ending.purpose,
        "reason": ending.reason,
        "deleted": {
            "data_keys": int(ending.had_tokens),
            "token_sets": int(ending.had_tokens),
            "cached_entries": ending.cached,
            "bindings": ending.bindings,
            "channels": sum(ending.channels.values()),
        },
        "provider_revocation": ending.provider_result or "not needed",
    }
    if ending.channels:  # how many per provider kind: never a channel's id
        body["channels_stopped"] = dict(sorted(ending.channels.items()))
    if ending.disk is not None:
        body["disk"] = ending.disk.as_receipt()
    if pending:
        body["pending"] = (
            "The keys and tokens are deleted; Redis is at its memory limit, so the record, "
            "bindings and audit entry are completed by the gateway as soon as it accepts "
            "writes."
        )
    return body


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)

"""Receipts and room access as a person reads them: dates in their time zone, what was
destroyed in words, how to check a signature; and who asked for the busy times of the rooms
they host, per day.

The signature is checked again before a receipt is offered for download: what leaves as
"your receipt" is always one this gateway signed.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.crypto.receipt_keys import KeyUnavailable, jwks
from gateway.crypto.receipts import ReceiptInvalid, ReceiptSigner
from gateway.services.api_clients import ApiClientService
from gateway.services.revocation import RevocationService
from gateway.services.rooms import RoomService
from gateway.storage.access_log import AccessLog

ACCESS_DAYS = 14  # the account page shows this many recent days; the export holds all 90
KINDS = {"grant-revocation": "Calendar access ended", "erasure": "Account erased"}
# what each count under "deleted" means, in words (singular, plural)
DELETED_WORDS = {
    "data_keys": ("encryption key destroyed", "encryption keys destroyed"),
    "token_sets": ("set of access tokens deleted", "sets of access tokens deleted"),
    "cached_entries": ("cached busy-time entry deleted", "cached busy-time entries deleted"),
    "bindings": ("room connection removed", "room connections removed"),
    "grants": ("calendar access ended", "calendar accesses ended"),
    "room_links": ("room link removed", "room links removed"),
    "sessions": ("sign-in session ended", "sign-in sessions ended"),
    "keys": ("stored record deleted", "stored records deleted"),
    "channels": (
        "calendar change-notification channel stopped",
        "calendar change-notification channels stopped",
    ),
    "room_history_entries": (
        "mention in a room's history removed",
        "mentions in rooms' histories removed",
    ),
}


def in_zone(timestamp: float | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """A moment as the person reads it: in their zone, the zone's abbreviation after it."""
    if not timestamp:
        return "never"
    shape = "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    return datetime.fromtimestamp(float(timestamp), zone).strftime(shape)


def _counted(name: str, count: Any) -> str | None:
    if not isinstance(count, int) or isinstance(count, bool):
        return None
    one, many = DELETED_WORDS.get(name, (name.replace("_", " "), name.replace("_", " ")))
    return f"{count} {one if count == 1 else many}"


@dataclass(frozen=True)
class ReadableReceipt:
    id: str
    title: str
    at: str  # in the reader's zone
    deleted: list[str]
    facts: list[tuple[str, str]]  # (label, value): provider, purpose, reason, ...
    signed_with: str
    document: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class AccessRow:
    room: str
    asked_by: str  # "members" (never named) or "API client <name>"
    requests: int


@dataclass(frozen=True)
class AccessDay:
    day: str
    rows: list[AccessRow]


class ReceiptService:
    def __init__(
        self,
        signer: ReceiptSigner,
        revocation: RevocationService,
        access: AccessLog,
        rooms: RoomService,
        clients: ApiClientService,
    ) -> None:
        self.signer = signer
        self.revocation = revocation
        self.access = access
        self.rooms = rooms
        self.clients = clients

    # -- the keys ------------------------------------------------------------------------------
    def published_keys(self) -> dict[str, Any]:
        """The JWKS: every public key that ever signed a receipt here, and the current one
        (made now if no receipt was signed yet, so the list is never empty)."""
        with contextlib.suppress(KeyUnavailable):
            self.signer.keys.signing_key()
        return jwks(self.signer.keys.public_keys())

    def rotate_key(self) -> str:
        """A new signing key from now on (its kid); the old ones stay published."""
        return self.signer.keys.rotate()

    def verify(self, receipt: dict[str, Any]) -> dict[str, Any]:
        return self.signer.verify(receipt)

    # -- one person's receipts -----------------------------------------------------------------
    def of(self, uid: str) -> list[dict[str, Any]]:
        return self.revocation.receipts(uid)

    def find(self, uid: str, receipt_id: str) -> dict[str, Any] | None:
        """One of the person's receipts by its id, if its signature holds."""
        for receipt in self.of(uid):
            if receipt.get("receipt") == receipt_id:
                try:
                    self.verify(receipt)
                except ReceiptInvalid:
                    return None
                return receipt
        return None

    def readable(
        self,
        receipt: dict[str, Any],
        zone: ZoneInfo,
        provider_title: Callable[[str], str] = str,
        purpose_title: Callable[[str], str] = str,
    ) -> ReadableReceipt:
        deleted = receipt.get("deleted")
        lines = [
            line
            for name, count in (deleted.items() if isinstance(deleted, dict) else [])
            if (line := _counted(name, count))
        ]
        facts: list[tuple[str, str]] = []
        if receipt.get("provider"):
            facts.append(("Calendar", provider_title(str(receipt["provider"]))))
        if receipt.get("purpose"):
            facts.append(("Purpose", purpose_title(str(receipt["purpose"]))))
        if receipt.get("reason"):
            facts.append(("Reason", str(receipt["reason"])))
        if receipt.get("provider_revocation"):
            facts.append(("At the provider", str(receipt["provider_revocation"])))
        kept = receipt.get("kept")
        if isinstance(kept, dict) and isinstance(kept.get("audit_entries"), int):
            count = kept["audit_entries"]
            record = "record" if count == 1 else "records"
            facts.append(("Kept", f"{count} pseudonymous audit {record} (required by law)"))
        disk = receipt.get("disk")
        if isinstance(disk, dict) and disk.get("scrub_by"):
            facts.append(("Off the server's disk by", in_zone(disk["scrub_by"], zone)))
        signature = receipt.get("signature")
        signature = signature if isinstance(signature, dict) else {}
        if signature.get("jws"):
            signed_with = f"Ed25519, key {signature.get('kid')} (anyone can check it)"
        else:
            signed_with = "HMAC (an older receipt: the operator can check it)"
        return ReadableReceipt(
            id=str(receipt.get("receipt", "")),
            title=KINDS.get(str(receipt.get("kind")), "Receipt"),
            at=in_zone(receipt.get("at"), zone),
            deleted=lines,
            facts=facts,
            signed_with=signed_with,
            document=receipt,
        )

    # -- who looked at my rooms ----------------------------------------------------------------
    def room_access(self, uid: str, days: int = ACCESS_DAYS) -> list[AccessDay]:
        """The last `days` UTC days of requests for the host's rooms, newest first: members
        as a count (never named), API clients by their name."""
        since = (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
        counts = [a for a in self.access.of(uid) if a.day >= since]
        if not counts:
            return []
        client_names = {c.id: c.name for c in self.clients.all()}
        room_names: dict[str, str] = {}
        by_day: dict[str, list[AccessRow]] = defaultdict(list)
        for count in counts:
            if count.room not in room_names:
                room = self.rooms.get(count.room)
                room_names[count.room] = room.name if room else f"{count.room} (deleted)"
            by_day[count.day].append(
                AccessRow(room_names[count.room], _asker(count.asker, client_names), count.count)
            )
        return [
            AccessDay(day, sorted(rows, key=lambda r: (r.room, r.asked_by)))
            for day, rows in sorted(by_day.items(), reverse=True)
        ]


def _asker(asker: str, client_names: Mapping[str, str]) -> str:
    if asker.startswith("client:"):
        client_id = asker.removeprefix("client:")
        return f"API client {client_names.get(client_id, client_id + ' (deleted)')}"
    return "members"

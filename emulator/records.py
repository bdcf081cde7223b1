"""What the emulator's memory is made of: accounts, clients, codes, tokens, events, knobs.

Plain records, each a dataclass, and how accounts are read from a file shaped like
accounts.json (subjects derived from the e-mail where the file gives none). `EmulatorState`
(state.py) holds them behind its lock and keeps what a restart must not forget.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PROVIDERS = ("google", "microsoft", "oidc")
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
ACCOUNTS_FILE = Path(__file__).with_name("accounts.json")
# Added accounts get subjects derived from their e-mail: stable across restarts.
SUBJECT_NAMESPACE = uuid.UUID("6f2c1d0e-5b4a-4c3d-9e8f-7a6b5c4d3e2f")

ENDPOINTS = frozenset(
    [f"google.{n}" for n in ("discovery", "authorize", "token", "userinfo", "jwks", "revoke")]
    + ["google.freebusy", "google.watch", "google.channels_stop"]
    + [f"microsoft.{n}" for n in ("discovery", "authorize", "token", "jwks", "userinfo")]
    + ["microsoft.getschedule", "microsoft.rooms", "microsoft.subscriptions"]
    + [f"oidc.{n}" for n in ("discovery", "authorize", "token", "jwks", "userinfo")]
)
ID_TOKEN_TAMPERS = frozenset({"iss", "aud", "expired", "nonce", "alg-none", "signature"})


@dataclass(frozen=True)
class Account:
    """A person who can sign in. `subject` is Google's numeric `sub`, Microsoft's `oid`."""

    provider: str
    email: str
    name: str
    subject: str
    tenant: str | None = None
    hd: str | None = None
    added: bool = False

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.email}"

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        data.pop("added")
        return data


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class AuthorizeAnswer:
    """A queued answer for the next authorization request (POST /_emulator/authorize-next)."""

    account: str
    grant: str | tuple[str, ...] = "all"
    deny: bool = False


@dataclass
class Fault:
    status: int | None = None
    retry_after: str | None = None
    delay_ms: int = 0
    body: str | None = None
    error: str | None = None
    times: int = 1


@dataclass
class PendingAuthorization:
    """An authorization request waiting for a person to choose on the emulator's page."""

    request_id: str
    provider: str
    params: dict[str, str]
    tenant: str | None
    expires_at: float


@dataclass
class Code:
    value: str
    provider: str
    client_id: str
    redirect_uri: str
    account_key: str
    scopes: tuple[str, ...]
    nonce: str | None
    challenge: str | None
    challenge_method: str | None
    refresh: bool
    expires_at: float
    used: bool = False


@dataclass
class Token:
    """An access or refresh token. `code` names the authorization code it descends from."""

    value: str
    kind: str  # "access" | "refresh"
    provider: str
    client_id: str
    account_key: str
    scopes: tuple[str, ...]
    code: str
    expires_at: float | None = None
    revoked: bool = False
    nonce: str | None = None

    def live(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Event:
    owner: str
    calendar: str
    start: datetime
    end: datetime
    summary: str | None
    location: str | None
    attendees: tuple[str, ...]
    show_as: str
    description: str | None = None  # kept like every field of a real event, shown nowhere
    organizer: str | None = None  # e-mail address
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    # getSchedule's availabilityView character for this event's slots, if not the usual
    view_code: str | None = None


@dataclass
class Settings:
    """Knobs a test may turn at run time; `reset` brings back the start-up values."""

    access_token_ttl: int = 3599
    code_ttl: int = 600
    freebusy_max_days: int = 90
    getschedule_max_days: int = 62
    google_issuer: str | None = None  # None: the emulator's own URL
    generic_issuer: str | None = None  # None: the emulator's URL + /generic
    delivery_timeout_ms: int = 3000  # a notification POST's timeout (Graph wants 3 s)
    validation_timeout_ms: int = 10_000  # Graph's validation handshake deadline


def google_subject(email: str) -> str:
    digest = int.from_bytes(hashlib.sha256(email.encode()).digest()[:10], "big")
    return "1" + str(digest).zfill(20)[-20:]


def load_accounts_file(path: Path) -> tuple[list[Account], list[dict[str, Any]]]:
    """The accounts and rooms of a JSON file shaped like accounts.json."""
    data = json.loads(path.read_text(encoding="utf-8"))
    accounts = [
        Account(
            provider=str(item["provider"]),
            email=str(item["email"]).lower(),
            name=str(item["name"]),
            subject=str(item.get("subject") or new_subject(item["provider"], item["email"])),
            tenant=item.get("tenant"),
            hd=item.get("hd"),
        )
        for item in data.get("accounts", [])
    ]
    return accounts, list(data.get("rooms", []))


def new_subject(provider: str, email: str) -> str:
    if provider == "google":
        return google_subject(email)
    if provider == "microsoft":
        return str(uuid.uuid5(SUBJECT_NAMESPACE, email))
    return hashlib.sha256(email.encode()).hexdigest()[:16]

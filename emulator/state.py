"""Everything the emulator remembers, in memory, behind one lock.

Request threads of the HTTPS server share one `EmulatorState`. Composite operations (redeem
a code and issue its tokens, revoke a grant and all its tokens) hold `state.lock` for their
whole length, so a test never sees half an operation.

With a `path` (`make run` passes `var/emulator-state.json`) what a restart must not forget is
written there after every change: added accounts and clients, grants, live tokens, events,
push channels and subscriptions. So the tokens a gateway keeps still work after both
restart, as a real provider's would. Queued answers, faults, counters, codes, pending
sign-ins and the delivery log are not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from emulator.push_state import (
    Channel,
    Delivery,
    DeliveryFault,
    Subscription,
    channel_from_json,
    subscription_from_json,
)

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


class EmulatorState:
    """The emulator's memory. Every attribute is guarded by `lock` (re-entrant)."""

    def __init__(
        self,
        base_url: str,
        clients: dict[str, Client],
        accounts: list[Account],
        rooms: list[dict[str, Any]],
        settings: Settings,
        path: Path | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.base_url = base_url
        self.clients = dict(clients)
        self._shipped_accounts = list(accounts)
        self.rooms = list(rooms)
        self._initial_settings = settings
        self.path = path
        self.reset()
        if path is not None and path.is_file():
            restore_state(self, json.loads(path.read_text(encoding="utf-8")))

    def save(self) -> None:
        """Keep what a restart must not forget (a no-op without `path`)."""
        save_state(self)

    def reset(self) -> None:
        """Back to start-up: only registered clients survive."""
        with self.lock:
            self.accounts: dict[str, Account] = {a.key: a for a in self._shipped_accounts}
            self.authorize_queue: deque[AuthorizeAnswer] = deque()
            self.id_token_tampers: deque[str] = deque()
            self.faults: dict[str, deque[Fault]] = defaultdict(deque)
            self.calls: dict[str, int] = defaultdict(int)
            self.pending: dict[str, PendingAuthorization] = {}
            self.codes: dict[str, Code] = {}
            self.tokens: dict[str, Token] = {}
            # (account_key, client_id) -> granted scopes
            self.grants: dict[tuple[str, str], tuple[str, ...]] = {}
            self.events: list[Event] = []
            # Every authorization request received, newest last: tests assert on the scopes.
            self.authorizations: list[dict[str, Any]] = []
            self.settings = replace(self._initial_settings)
            # push (push_google.py, push_graph.py, deliveries.py)
            self.channels: dict[str, Channel] = {}
            self.subscriptions: dict[str, Subscription] = {}
            self.deliveries: list[Delivery] = []
            self.delivery_faults: list[DeliveryFault] = []

    # -- accounts --------------------------------------------------------------------------
    def account(self, provider: str, email: str) -> Account | None:
        with self.lock:
            return self.accounts.get(f"{provider}:{email.lower()}")

    def accounts_by_email(self, email: str) -> list[Account]:
        with self.lock:
            return [a for a in self.accounts.values() if a.email == email.lower()]

    def provider_accounts(self, provider: str) -> list[Account]:
        with self.lock:
            return [a for a in self.accounts.values() if a.provider == provider]

    def tenants(self) -> set[str]:
        with self.lock:
            found = {a.tenant for a in self.accounts.values() if a.tenant}
            return found | {str(r["tenant"]) for r in self.rooms}

    def add_account(self, account: Account) -> None:
        with self.lock:
            self.accounts[account.key] = account

    # -- faults and counters ---------------------------------------------------------------
    def hit(self, endpoint: str) -> Fault | None:
        """Count a call to `endpoint` and take the fault at the head of its queue, if any."""
        with self.lock:
            self.calls[endpoint] += 1
            queue = self.faults.get(endpoint)
            if not queue:
                return None
            fault = queue[0]
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    queue.popleft()
            return replace(fault)

    def next_tamper(self) -> str | None:
        with self.lock:
            return self.id_token_tampers.popleft() if self.id_token_tampers else None

    # -- tokens ----------------------------------------------------------------------------
    def revoke_family(self, account_key: str, client_id: str) -> int:
        """Revoke every token of one person for one client and forget the grant."""
        with self.lock:
            count = 0
            for token in self.tokens.values():
                if (
                    token.account_key == account_key
                    and token.client_id == client_id
                    and not token.revoked
                ):
                    token.revoked = True
                    count += 1
            self.grants.pop((account_key, client_id), None)
            return count

    def revoke_code_descendants(self, code: str) -> None:
        with self.lock:
            for token in self.tokens.values():
                if token.code == code:
                    token.revoked = True

    def live_token(self, value: str, kind: str) -> Token | None:
        with self.lock:
            token = self.tokens.get(value)
            if token is None or token.kind != kind or not token.live(time.time()):
                return None
            return token

    def purge_expired(self) -> None:
        """Drop stale pending requests and codes so a long demo run does not grow forever."""
        now = time.time()
        with self.lock:
            for key in [k for k, p in self.pending.items() if p.expires_at < now]:
                del self.pending[key]
            for key in [k for k, c in self.codes.items() if c.expires_at < now - 3600]:
                del self.codes[key]


# -- what survives a restart (EmulatorState.path) ----------------------------------------------
def _snapshot(state: EmulatorState) -> dict[str, Any]:
    now = time.time()
    return {
        "version": 1,
        "accounts": [asdict(a) for a in state.accounts.values() if a.added],
        "clients": [
            {"client_id": c.client_id, "secret": c.secret, "redirect_uris": list(c.redirect_uris)}
            for c in state.clients.values()
        ],
        "grants": [
            {"account": key, "client_id": client_id, "scopes": list(scopes)}
            for (key, client_id), scopes in state.grants.items()
        ],
        "tokens": [asdict(t) for t in state.tokens.values() if t.live(now)],
        "events": [
            {**asdict(e), "start": e.start.isoformat(), "end": e.end.isoformat()}
            for e in state.events
        ],
        "channels": [c.as_json() for c in state.channels.values()],
        "subscriptions": [s.as_json() for s in state.subscriptions.values()],
    }


def save_state(self: EmulatorState) -> None:
    """Write what a restart must keep, atomically (readable by this user only)."""
    if self.path is None:
        return
    with self.lock:
        text = json.dumps(_snapshot(self), separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, self.path)


def restore_state(self: EmulatorState, data: dict[str, Any]) -> None:
    """Take back a snapshot; the clients registered at this start win over kept ones."""
    with self.lock:
        for item in data.get("accounts", []):
            account = Account(**item)
            self.accounts.setdefault(account.key, account)
        for item in data.get("clients", []):
            client = Client(item["client_id"], item["secret"], tuple(item["redirect_uris"]))
            self.clients.setdefault(client.client_id, client)
        for item in data.get("grants", []):
            self.grants[(item["account"], item["client_id"])] = tuple(item["scopes"])
        for item in data.get("tokens", []):
            token = Token(**{**item, "scopes": tuple(item["scopes"])})
            self.tokens[token.value] = token
        for item in data.get("events", []):
            self.events.append(
                Event(
                    **{
                        **item,
                        "start": datetime.fromisoformat(item["start"]),
                        "end": datetime.fromisoformat(item["end"]),
                        "attendees": tuple(item.get("attendees") or ()),
                    }
                )
            )
        for item in data.get("channels", []):
            channel = channel_from_json(item)
            self.channels[channel.id] = channel
        for item in data.get("subscriptions", []):
            subscription = subscription_from_json(item)
            self.subscriptions[subscription.id] = subscription

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

import json
import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, replace
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
from emulator.records import (
    Account,
    AuthorizeAnswer,
    Client,
    Code,
    Event,
    Fault,
    PendingAuthorization,
    Settings,
    Token,
)


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

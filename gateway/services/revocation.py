"""One way to end a grant, whoever ends it: the user, an admin, or the provider.

The steps, each idempotent, so a revocation that crashed half-way completes when retried:
1. tell the provider while the tokens are still readable (Google's RFC 7009 endpoint;
   Microsoft has none) and note the outcome on the grant record;
2. destroy everything here in one transaction: bump the epoch (no in-flight fetch writes
   back), delete the wrapped data key (crypto-shredding), tokens, subject and cached data;
3. remove the room bindings that used the grant;
4. write the audit record and a signed receipt;
5. with `forget`, delete the remaining record (withdrawal, erasure).
A provider failure never stops steps 2-5; the receipt says the provider was not reached.

Google shares one refresh token across every scope a user granted this client (incremental
authorization), so revoking at Google ends all of that user's Google grants: the provider
is told only when the last live Google grant of the user goes, unless asked explicitly.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import redis

from connectors.base import Connector
from connectors.errors import ConnectorError
from gateway import metrics
from gateway.crypto.receipts import ReceiptSigner
from gateway.request_log import security_event
from gateway.services.grants import GrantService
from gateway.storage import keys
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import ACTIVE, REVOKED, GrantStore

log = logging.getLogger(__name__)

# (uid, gid, actor) -> number of room bindings removed
UnbindHook = Callable[[str, str, str], int]
RECEIPTS_KEPT = 100


def receipts_key(uid: str) -> str:
    return f"{keys.user_tag(uid)}:receipts"


class RevocationService:
    def __init__(
        self,
        store: GrantStore,
        grants: GrantService,
        connectors: Mapping[str, Connector],
        audit: AuditTrail,
        signer: ReceiptSigner,
    ) -> None:
        self.store = store
        self.grants = grants
        self.connectors = dict(connectors)
        self.audit = audit
        self.signer = signer
        self.unbind_hooks: list[UnbindHook] = []

    @property
    def client(self) -> redis.Redis:
        return self.store.client

    def revoke_grant(
        self,
        uid: str,
        gid: str,
        *,
        reason: str,
        actor: str,
        forget: bool = False,
        tell_provider: bool | None = None,
    ) -> dict[str, Any] | None:
        """End one grant and return its signed receipt (None if there is no such grant)."""
        record = self.store.load(uid, gid)
        if record is None:
            return None
        grant_key = keys.grant(uid, gid)
        had_tokens = record.wrapped_key is not None
        # 1. the provider, while the tokens can still be read
        provider_result = cast(str | None, self.client.hget(grant_key, "provider_result"))
        if had_tokens:
            if tell_provider is None:
                tell_provider = not self._other_live_grants(uid, gid, record.provider)
            provider_result = self._tell_provider(uid, gid, record.provider, tell_provider)
            self.client.hset(grant_key, "provider_result", provider_result)
        # 2. everything here, at once
        cached = self.store.purge(uid, gid, status=REVOKED, reason=reason)
        self.grants.ended(uid, gid)  # and what this process keeps of it in memory
        metrics.revocation("user" if actor == uid else "system" if actor == "system" else "admin")
        # 3. bindings
        bindings = sum(unbind(uid, gid, actor) for unbind in self.unbind_hooks)
        # 4. audit and receipt
        receipt = self.signer.sign(
            {
                "receipt": secrets.token_urlsafe(12),
                "kind": "grant-revocation",
                "at": round(time.time(), 3),
                "grant": gid,
                "provider": record.provider,
                "purpose": record.purpose,
                "reason": reason,
                "deleted": {
                    "data_keys": int(had_tokens),
                    "token_sets": int(had_tokens),
                    "cached_entries": cached,
                    "bindings": bindings,
                },
                "provider_revocation": provider_result or "not needed",
            }
        )
        self.audit.record(
            actor=actor,
            action="grant.revoke",
            subject=uid,
            purpose=record.purpose,
            result=provider_result or "ok",
            detail={"provider": record.provider, "cached": cached, "bindings": bindings},
        )
        # 5. the record itself
        pipe = self.client.pipeline(transaction=True)
        if forget:
            pipe.delete(grant_key)
            pipe.srem(keys.grants(uid), gid)
        pipe.lpush(receipts_key(uid), _json(receipt))
        pipe.ltrim(receipts_key(uid), 0, RECEIPTS_KEPT - 1)
        pipe.execute()
        security_event(
            "grant.revoke",
            "success",
            actor=actor,
            subject=uid,
            grant=gid,
            provider=record.provider,
            provider_result=provider_result or "not needed",
        )
        return receipt

    def _tell_provider(self, uid: str, gid: str, provider: str, tell: bool) -> str:
        if not tell:
            return "not needed: other grants share the provider's token"
        connector = self.connectors.get(provider)
        tokens = self.grants.tokens_if_readable(uid, gid)
        if connector is None or tokens is None:
            return "not reached: tokens unreadable"
        started = time.monotonic()
        try:
            told = connector.revoke(tokens)
        except ConnectorError as error:
            metrics.provider_call(provider, "revoke", error.code, time.monotonic() - started)
            return f"failed: {error.code}"
        seconds = time.monotonic() - started
        metrics.provider_call(provider, "revoke", "ok" if told else "unsupported", seconds)
        if told:
            return "revoked at provider"
        return "no revocation endpoint: remove the app in your account settings there"

    def _other_live_grants(self, uid: str, gid: str, provider: str) -> bool:
        return any(
            g.id != gid and g.provider == provider and g.status == ACTIVE
            for g in self.grants.list(uid)
        )

    # -- many grants at once ---------------------------------------------------------------------
    def revoke_user(self, uid: str, *, reason: str, actor: str) -> list[dict[str, Any]]:
        grants = self.grants.list(uid)
        # the last of a provider's grants tells the provider; the others do not need to
        ordered = sorted(grants, key=lambda g: g.status == ACTIVE)
        done = []
        for grant in ordered:
            receipt = self.revoke_grant(uid, grant.id, reason=reason, actor=actor)
            if receipt:
                done.append(receipt)
        return done

    def grants_of_provider(self, provider: str) -> list[tuple[str, str]]:
        """(uid, gid) of every grant with this provider: an admin sweep (SCAN)."""
        found = []
        for key in self.client.scan_iter(match=f"{keys.PREFIX}:{{u:*}}:grant:*", count=500):
            name = str(key)
            if not keys.holds_wrapped_key(name):
                continue
            provider_of, status = self.client.hmget(name, ["provider", "status"])
            if provider_of == provider and status != REVOKED:
                found.append((keys.owner_of_key(name), name.rpartition(":grant:")[2]))
        return found

    def revoke_provider(self, provider: str, *, reason: str, actor: str) -> int:
        count = 0
        for uid, gid in self.grants_of_provider(provider):
            if self.revoke_grant(uid, gid, reason=reason, actor=actor, tell_provider=True):
                count += 1
        return count

    def receipts(self, uid: str) -> list[dict[str, Any]]:
        return [
            json.loads(r) for r in cast(list[str], self.client.lrange(receipts_key(uid), 0, -1))
        ]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)

"""One way to end a grant, whoever ends it: the user, an admin, or the provider.

The steps, each idempotent, so a revocation that crashed half-way completes when retried:
1. tell the provider while the tokens are still readable (Google's RFC 7009 endpoint;
   Microsoft has none) and note the outcome on the grant record;
2. destroy everything secret here in one transaction of deletes only: the wrapped data key
   (crypto-shredding), tokens, subject and cached data; Redis runs deletes even at its
   memory limit. Then ask for the deleted bytes to leave the disk (services/disk_scrub.py)
   and, in a small write, mark the grant revoked and bump its epoch (no in-flight fetch
   writes back: the cache write also needs the data key);
3. remove the room bindings that used the grant;
4. write the audit record and a signed receipt;
5. with `forget`, delete the remaining record (withdrawal, erasure).
A provider failure never stops steps 2-5; the receipt says the provider was not reached.
When Redis refuses the writes of steps 2-5 (its memory limit reached), the secrets are
already gone; the rest is recorded (in Redis if it takes the small write, else in this
process) and finished by the gateway's background thread once Redis accepts writes again,
not left to the person: the receipt says so.

Google shares one refresh token across every scope a user granted this client (incremental
authorization), so revoking at Google ends all of that user's Google grants: the provider
is told only when the last live Google grant of the user goes, unless asked explicitly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectors.base import Connector
from connectors.errors import ConnectorError
from gateway import metrics
from gateway.crypto.receipts import ReceiptSigner
from gateway.request_log import security_event
from gateway.services.disk_scrub import DiskStatus
from gateway.services.grants import GrantEndings, GrantService
from gateway.services.revocation_receipt import Ending, as_json, receipt_body
from gateway.services.tombstones import Tombstones
from gateway.storage.audit import AuditTrail
from gateway.storage.errors import StorageFull
from gateway.storage.grants import ACTIVE, REVOKED, GrantStore
from gateway.storage.receipts import ReceiptStore

log = logging.getLogger(__name__)

# (uid, gid, actor) -> number of room bindings removed
UnbindHook = Callable[[str, str, str], int]


class RevocationService:
    def __init__(
        self,
        store: GrantStore,
        receipts: ReceiptStore,
        grants: GrantService,
        connectors: Mapping[str, Connector],
        audit: AuditTrail,
        signer: ReceiptSigner,
        *,
        scrub: Callable[[], DiskStatus] | None = None,
        unbind: Sequence[UnbindHook] = (),
        tombstones: Tombstones | None = None,
        closing: GrantEndings | None = None,
    ) -> None:
        self.store = store
        self.receipt_store = receipts
        self.grants = grants
        self.connectors = dict(connectors)
        self.audit = audit
        self.signer = signer
        # remove the room bindings that used an ended grant (RoomService.unbind_grant)
        self.unbind_hooks: list[UnbindHook] = list(unbind)
        # told of a grant about to end while its tokens can still be read: its provider
        # channels are stopped (services/watches.py)
        self.closing = closing
        # asks for the deleted data to leave Redis's disk (services/disk_scrub.py)
        self.scrub = scrub
        # remembers each ending outside Redis, against restores (services/tombstones.py)
        self.tombstones = tombstones
        self._unfinished: list[Ending] = []  # Redis refused even to record them
        self._unfinished_lock = threading.Lock()

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
        had_tokens = record.wrapped_key is not None
        # 1. the provider, while the tokens can still be read
        provider_result = self.store.provider_result(uid, gid)
        channels: dict[str, int] = {}
        if had_tokens and self.closing is not None:  # its channels stopped, counted
            channels = self.closing.announce(uid, gid, contained=True)
        if had_tokens:
            if tell_provider is None:
                tell_provider = not self._other_live_grants(uid, gid, record.provider)
            provider_result = self._tell_provider(uid, gid, record.provider, tell_provider)
            # at the memory limit, kept in the ending below and written when it finishes
            with contextlib.suppress(StorageFull):
                self.store.note_provider_result(uid, gid, provider_result)
        # 2. everything secret here, in deletes only (they run at Redis's memory limit too)
        cached = self.store.shred(uid, gid)
        self.grants.ended(uid, gid)  # and what this process keeps of it in memory
        if self.tombstones:
            self.tombstones.grant_ended(
                uid,
                gid,
                provider=record.provider,
                purpose=record.purpose,
                destroyed={"data_keys": int(had_tokens), "cached_entries": cached},
            )
        disk = self.scrub() if self.scrub else None
        ending = Ending(
            uid=uid,
            gid=gid,
            reason=reason,
            actor=actor,
            forget=forget,
            provider=record.provider,
            purpose=record.purpose,
            had_tokens=had_tokens,
            provider_result=provider_result,
            cached=cached,
            disk=disk,
            receipt_id=secrets.token_urlsafe(12),
            at=round(time.time(), 3),
            channels=channels,
        )
        metrics.revocation("user" if actor == uid else "system" if actor == "system" else "admin")
        try:
            return self._finish(ending)
        except StorageFull:
            self._keep_unfinished(ending)
            return self._receipt(ending, pending=True)

    def _finish(self, ending: Ending) -> dict[str, Any]:
        """Steps 2b-5, each noted on `ending` once done, so a retry does not repeat it."""
        uid, gid = ending.uid, ending.gid
        if not ending.marked:  # 2b. the small write: status, reason, version and epoch
            self.store.mark_ended(uid, gid, status=REVOKED, reason=ending.reason)
            if ending.provider_result:
                self.store.note_provider_result(uid, gid, ending.provider_result)
            self.store.bump_answers()
            ending.marked = True
        if ending.disk is not None and ending.disk.request is None and self.scrub:
            ending.disk = self.scrub()  # Redis could not record it then; it can now
        if ending.bindings is None:  # 3. bindings
            ending.bindings = sum(unbind(uid, gid, ending.actor) for unbind in self.unbind_hooks)
        receipt = self._receipt(ending)
        if not ending.audited:  # 4. audit and receipt
            self.audit.record(
                actor=ending.actor,
                action="grant.revoke",
                subject=uid,
                purpose=ending.purpose,
                result=ending.provider_result or "ok",
                detail={
                    "provider": ending.provider,
                    "cached": ending.cached,
                    "bindings": ending.bindings,
                },
            )
            ending.audited = True
        # 5. the record itself
        self.receipt_store.file(
            uid, as_json(receipt), forgotten_grant=gid if ending.forget else None
        )
        security_event(
            "grant.revoke",
            "success",
            actor=ending.actor,
            subject=uid,
            grant=gid,
            provider=ending.provider,
            provider_result=ending.provider_result or "not needed",
        )
        return receipt

    def _receipt(self, ending: Ending, *, pending: bool = False) -> dict[str, Any]:
        return self.signer.sign(receipt_body(ending, pending=pending))

    # -- revocations Redis refused to finish -------------------------------------------------
    def _keep_unfinished(self, ending: Ending) -> None:
        log.warning(
            "revocation finished only in part: the grant's secrets are deleted, Redis refused "
            "the rest (memory limit); the gateway retries it"
        )
        try:
            self.store.keep_unfinished(ending.uid, ending.gid, ending.to_json())
        except StorageFull:
            with self._unfinished_lock:
                if not any((e.uid, e.gid) == (ending.uid, ending.gid) for e in self._unfinished):
                    self._unfinished.append(ending)

    def finish_unfinished(self) -> int:
        """Finish the revocations Redis refused to complete (the disk-scrub thread calls it
        every poll); how many were finished."""
        with self._unfinished_lock:
            held, self._unfinished = self._unfinished, []
        for index, ending in enumerate(held):  # record them in Redis, where any process sees
            try:
                self.store.keep_unfinished(ending.uid, ending.gid, ending.to_json())
            except StorageFull:
                with self._unfinished_lock:
                    self._unfinished = held[index:] + self._unfinished
                return 0
        finished = 0
        for state in self.store.claim_unfinished():
            ending = Ending.from_json(state)
            if self.store.load(ending.uid, ending.gid) is None:
                continue  # erased (or forgotten) meanwhile: nothing to finish or recreate
            try:
                self._finish(ending)
                finished += 1
            except StorageFull:
                self._keep_unfinished(ending)
        if finished:
            log.info("finished %d revocation(s) that Redis had refused to complete", finished)
        return finished

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
        return connector.revoke_hint or (
            "no revocation endpoint: remove the app in your account settings there"
        )

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
        for uid, gid in self.store.every_grant():
            provider_of, status = self.store.provider_and_status(uid, gid)
            if provider_of == provider and status != REVOKED:
                found.append((uid, gid))
        return found

    def revoke_provider(self, provider: str, *, reason: str, actor: str) -> int:
        count = 0
        for uid, gid in self.grants_of_provider(provider):
            if self.revoke_grant(uid, gid, reason=reason, actor=actor, tell_provider=True):
                count += 1
        return count

    def receipts(self, uid: str) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.receipt_store.of(uid)]

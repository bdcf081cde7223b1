"""Retention that Redis TTLs cannot express: run by `flask --app gateway retention run`
(daily from cron or a Kubernetes CronJob).

- grants unused (not used, not refreshed) for longer than the idle limit are revoked with
  the reason shown to their owner;
- the audit trail keeps one year;
- receipts and consent histories go with their owner (erasure); their age limit follows the
  catalogue (consent records: three years after the consent ends) and is enforced here for
  users whose last consent event is older than that and who hold no grant.
Everything else carries a TTL (sessions, flows, cache, locks, access counts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import redis

from gateway.services.revocation import RevocationService
from gateway.storage import keys
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import ACTIVE, GrantStore

AUDIT_KEEP_SECONDS = 365 * 86400
CONSENT_RECORDS_KEEP_SECONDS = 3 * 365 * 86400
GRANT_IDLE_SECONDS = 180 * 86400


@dataclass(frozen=True)
class RetentionReport:
    idle_grants_revoked: int
    audit_entries_trimmed: int
    consent_logs_deleted: int


def run(
    client: redis.Redis,
    store: GrantStore,
    revocation: RevocationService,
    audit: AuditTrail,
    *,
    now: float | None = None,
    grant_idle_seconds: float = GRANT_IDLE_SECONDS,
) -> RetentionReport:
    now = now or time.time()
    revoked = 0
    for key in client.scan_iter(match=f"{keys.PREFIX}:{{u:*}}:grant:*", count=500):
        name = str(key)
        if not keys.holds_wrapped_key(name):
            continue
        uid, gid = keys.owner_of_key(name), name.rpartition(":grant:")[2]
        record = store.load(uid, gid)
        if record is None or record.status != ACTIVE:
            continue
        last = max(record.last_used, record.last_refreshed, record.created)
        if now - last > grant_idle_seconds:
            revocation.revoke_grant(
                uid,
                gid,
                reason="Unused for a long time, so it was ended automatically. "
                "Connect the calendar again if you still need it.",
                actor="system",
            )
            revoked += 1
    trimmed = audit.trim(AUDIT_KEEP_SECONDS)
    deleted = 0
    for key in client.scan_iter(match=f"{keys.PREFIX}:{{u:*}}:consent-log", count=500):
        name = str(key)
        uid = keys.owner_of_key(name)
        if client.hlen(keys.consents(uid)) or client.scard(keys.grants(uid)):
            continue
        newest = cast(list[tuple[str, dict[str, str]]], client.xrevrange(name, count=1))
        if newest and now - float(newest[0][1].get("at", now)) > CONSENT_RECORDS_KEEP_SECONDS:
            client.delete(name)
            deleted += 1
    return RetentionReport(revoked, trimmed, deleted)

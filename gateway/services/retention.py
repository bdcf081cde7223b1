"""Retention that Redis TTLs cannot express: run daily by the worker's `retention` job
(services/jobs.py, gateway/worker.py), or by hand with `flask --app gateway retention run`.

Every duration comes from the catalogue (scopes/catalogue.toml), the same one the processing
register is rendered from, so the register says what this sweep does:

- grants unused (not used, not refreshed) for longer than the `calendar-grant` category's
  `idle` are revoked with the reason shown to their owner (an audit `grant.revoke` each);
- the audit trail keeps the `audit-event` category's `max_age`;
- receipts and consent histories go with their owner (erasure); consent records of users
  who hold no consent and no grant are deleted once their last event is older than the
  `consent-record` category's `keep_after_end` (an audit `consent.expire` each).
Everything else carries a TTL (sessions, flows, cache, locks, access counts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from gateway.services.revocation import RevocationService
from gateway.storage import job_runs
from gateway.storage.audit import AuditTrail
from gateway.storage.consents import ConsentStore
from gateway.storage.grants import ACTIVE, GrantStore
from scopes import Catalogue, CatalogueError


@dataclass(frozen=True)
class Limits:
    """The sweep's three durations in seconds, as the catalogue states them."""

    grant_idle: float
    audit_keep: float
    consent_records_keep: float

    @classmethod
    def of(cls, catalogue: Catalogue) -> Limits:
        grant = catalogue.category("calendar-grant").retention
        audit = catalogue.category("audit-event").retention
        consent = catalogue.category("consent-record").retention
        return cls(
            grant_idle=_seconds(grant.idle, "calendar-grant: idle"),
            audit_keep=_seconds(audit.max_age, "audit-event: max_age"),
            consent_records_keep=_seconds(consent.keep_after_end, "consent-record: keep_after_end"),
        )


def _seconds(value: timedelta | None, where: str) -> float:
    if value is None:
        raise CatalogueError(f"the catalogue gives the retention sweep no {where}")
    return value.total_seconds()


@dataclass(frozen=True)
class RetentionReport:
    idle_grants_revoked: int
    audit_entries_trimmed: int
    consent_logs_deleted: int


class Retention:
    """The sweep, over the stores it empties, by the catalogue's durations."""

    def __init__(
        self,
        grants: GrantStore,
        consents: ConsentStore,
        revocation: RevocationService,
        audit: AuditTrail,
        catalogue: Catalogue,
    ) -> None:
        self.grants = grants
        self.consents = consents
        self.revocation = revocation
        self.audit = audit
        self.catalogue = catalogue

    def run(self, *, now: float | None = None) -> RetentionReport:
        limits = Limits.of(self.catalogue)
        now = now or time.time()
        revoked = 0
        for uid, gid in self.grants.every_grant():
            record = self.grants.load(uid, gid)
            if record is None or record.status != ACTIVE:
                continue
            # a use, not a refresh: the weekly keep-alive refresh (connection_health) would
            # otherwise keep every grant nobody uses alive for ever
            last = max(record.last_used, record.created)
            if now - last > limits.grant_idle:
                self.revocation.revoke_grant(
                    uid,
                    gid,
                    reason="Unused for a long time, so it was ended automatically. "
                    "Connect the calendar again if you still need it.",
                    actor="system",
                )
                revoked += 1
        trimmed = self.audit.trim(limits.audit_keep, now)
        deleted = 0
        for uid, newest in self.consents.unattached_logs():
            if newest is not None and now - newest > limits.consent_records_keep:
                self.consents.delete_log(uid)
                self.audit.record(actor="system", action="consent.expire", subject=uid)
                deleted += 1
        return RetentionReport(revoked, trimmed, deleted)

    def record_success(self) -> None:
        """The sweep finished (gateway_job_last_success on /metrics, and its alert)."""
        job_runs.record_success(self.grants.client, "retention")

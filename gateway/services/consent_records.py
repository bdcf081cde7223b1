"""Every consent answer, recorded three ways: the consent log the person sees, the audit
trail, and a security event for the log pipeline.

Kept together so that giving, refusing and withdrawing cannot record one of the three and
forget another (services/consent.py decides; this writes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.request_log import security_event
from gateway.storage.audit import AuditTrail
from gateway.storage.consents import GIVEN, REFUSED, WITHDRAWN, ConsentStore


class ConsentRecords:
    def __init__(self, store: ConsentStore, audit: AuditTrail) -> None:
        self.store = store
        self.audit = audit

    def refused(self, uid: str, record: Mapping[str, Any]) -> None:
        """The provider granted less than the purpose needs: nothing was kept."""
        purpose, provider, version = record["purpose"], record["provider"], record["version"]
        self.store.record(uid, action=REFUSED, **record)
        self.audit.record(
            actor=uid,
            action="consent.give",
            subject=uid,
            purpose=purpose,
            result="refused",
            detail={"provider": provider, "version": version},
        )
        security_event(
            "consent.give", "refused", actor=uid, subject=uid, purpose=purpose, provider=provider
        )

    def given(self, uid: str, grant: str, record: Mapping[str, Any], replaced: int) -> None:
        """A grant covering the purpose was kept; `replaced` earlier grants went."""
        purpose, provider, version = record["purpose"], record["provider"], record["version"]
        self.store.record(uid, action=GIVEN, grant=grant, **record)
        self.audit.record(
            actor=uid,
            action="consent.give",
            subject=uid,
            purpose=purpose,
            detail={"provider": provider, "version": version, "replaced": replaced},
        )
        security_event(
            "consent.give",
            "success",
            actor=uid,
            subject=uid,
            purpose=purpose,
            provider=provider,
            grant=grant,
        )

    def withdrawn(
        self,
        uid: str,
        purpose: str,
        provider: str,
        *,
        version: str,
        digest: str,
        grant: str,
        ended: int,
    ) -> None:
        """The consent was withdrawn and `ended` grants went with it."""
        self.store.record(
            uid,
            purpose=purpose,
            provider=provider,
            action=WITHDRAWN,
            version=version,
            digest=digest,
            grant=grant,
        )
        self.audit.record(
            actor=uid,
            action="consent.withdraw",
            subject=uid,
            purpose=purpose,
            detail={"provider": provider, "version": version, "grants": ended},
        )
        security_event(
            "consent.withdraw",
            "success",
            actor=uid,
            subject=uid,
            purpose=purpose,
            provider=provider,
            grants=ended,
        )

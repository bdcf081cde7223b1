"""Data-subject rights: access and portability (export), erasure, restriction.

Export gathers every personal datum held about a user into one JSON document (schema in
gateway/schemas/export.schema.json), never a token value. Erasure ends every grant through
the revocation path (provider told), removes bindings, consent records, identities,
sessions, receipts, access logs and every key under the user's hash tag, removes the user
from room histories, keeps the pseudonymous audit records about them (accountability
evidence, GDPR Art. 5(2), 17(3)(b); gateway/storage/audit.py), adds one "account.erase" audit
record, and asks for the deleted data to leave Redis's disk within the bound
(services/disk_scrub.py); the receipt says by when.
Restriction pauses all processing of the user's calendar data without deleting anything.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from gateway.crypto.receipts import ReceiptSigner
from gateway.request_log import security_event
from gateway.services.consent import ConsentService
from gateway.services.grants import GrantService
from gateway.services.privacy_export import hosted_rooms
from gateway.services.privacy_export import iso as _iso
from gateway.services.revocation import RevocationService
from gateway.services.rooms import RoomService
from gateway.services.tombstones import ACTOR as REPLAY_ACTOR
from gateway.services.tombstones import REASON as REPLAY_REASON
from gateway.services.tombstones import Replayed
from gateway.storage.access_log import AccessLog
from gateway.storage.audit import AuditTrail
from gateway.storage.erasure import ErasureStore
from gateway.storage.restrictions import RestrictionStore
from gateway.storage.sessions import UserSessions
from gateway.storage.users import UserStore
from scopes import Catalogue, processing_register

log = logging.getLogger(__name__)

EXPORT_FORMAT = "consent-gateway-export/1"


class PrivacyService:
    def __init__(
        self,
        restrictions: RestrictionStore,
        erasure: ErasureStore,
        sessions: UserSessions,
        users: UserStore,
        grants: GrantService,
        revocation: RevocationService,
        consent: ConsentService,
        rooms: RoomService,
        audit: AuditTrail,
        access: AccessLog,
        signer: ReceiptSigner,
        catalogue: Catalogue,
        restricted: Callable[[str, bool], object] = lambda *_: None,
    ) -> None:
        self.restrictions = restrictions
        self.restricted = restricted  # (uid, now restricted): the change feed tells clients
        self.erasure = erasure
        self.sessions = sessions
        self.users = users
        self.grants = grants
        self.revocation = revocation
        self.consent = consent
        self.rooms = rooms
        self.audit = audit
        self.access = access
        self.signer = signer
        self.catalogue = catalogue

    # -- restriction -----------------------------------------------------------------------------
    def restrict(self, uid: str, restricted: bool, actor: str) -> None:
        if restricted:  # either also makes their rooms' remembered answers out of date
            self.restrictions.restrict(uid, time.time())
        else:
            self.restrictions.lift(uid)
        self.audit.record(
            actor=actor,
            action="restriction.set" if restricted else "restriction.lift",
            subject=uid,
        )
        self.restricted(uid, restricted)

    def restricted_since(self, uid: str) -> float | None:
        return self.restrictions.since(uid)

    def restricted_among(self, uids: set[str]) -> set[str]:
        return self.restrictions.among(uids)

    # -- access and portability --------------------------------------------------------------------
    def export(self, uid: str) -> dict[str, Any]:
        user = self.users.get(uid)
        if user is None:
            raise LookupError("no such user")
        register = processing_register(self.catalogue)
        in_force = self.consent.in_force(uid)
        applies = (
            {"sign-in"} | {c.purpose for c in in_force} | {g.purpose for g in self.grants.list(uid)}
        )
        self.audit.record(actor=uid, action="account.export", subject=uid)
        return {
            "format": EXPORT_FORMAT,
            "generated": _iso(time.time()),
            "user": {
                "id": user.id,
                "name": user.name,
                "email": user.email,
                "created": _iso(user.created),
            },
            "identities": [
                {
                    "provider": i.provider,
                    "name": i.name,
                    "email": i.email,
                    "linked": _iso(i.linked_at),
                }
                for i in user.identities
            ],
            "grants": [
                {
                    "id": g.id,
                    "provider": g.provider,
                    "purpose": g.purpose,
                    "status": g.status,
                    "reason": g.reason or None,
                    "scopes": list(g.scopes),
                    "created": _iso(g.created),
                    "lastUsed": _iso(g.last_used),
                    "lastRefreshed": _iso(g.last_refreshed),
                }
                for g in self.grants.list(uid)
            ],
            "consents": {
                "inForce": [
                    {
                        "purpose": c.purpose,
                        "provider": c.provider,
                        "textVersion": c.version,
                        "given": _iso(c.given),
                    }
                    for c in in_force
                ],
                "history": [
                    {
                        "purpose": e.purpose,
                        "provider": e.provider,
                        "action": e.action,
                        "textVersion": e.version,
                        "textDigest": e.digest,
                        "scopesRequested": list(e.requested),
                        "scopesGranted": list(e.granted),
                        "at": _iso(e.at),
                    }
                    for e in self.consent.history(uid)
                ],
            },
            "rooms": {
                "hosted": hosted_rooms(
                    self.rooms, self.grants, uid, self.restricted_since(uid) is not None
                ),
                "bindings": [
                    {
                        "room": b.room_id,
                        "provider": b.provider,
                        "calendar": b.calendar,
                        "since": _iso(b.since),
                    }
                    for b in self.rooms.bindings_of(uid)
                ],
            },
            "roomAccess": [
                {"room": a.room, "asker": a.asker, "day": a.day, "requests": a.count}
                for a in self.access.of(uid)
            ],
            "restriction": {
                "restricted": self.restricted_since(uid) is not None,
                "since": _iso(self.restricted_since(uid)),
            },
            "receipts": self.revocation.receipts(uid),
            "auditTrail": [
                {
                    "at": _iso(e.at),
                    "action": e.action,
                    "purpose": e.purpose or None,
                    "result": e.result,
                }
                for e in self.audit.entries(subject=uid, limit=1000)
            ],
            "processing": [p for p in register["purposes"] if p["id"] in applies],
        }

    # -- after a restore ------------------------------------------------------------------------
    def replay_tombstones(self, since: float) -> Replayed:
        """Erase and revoke again what a restored backup brought back (services/tombstones.py)."""
        tombstones = self.revocation.tombstones
        if tombstones is None:
            return Replayed()
        return tombstones.replay(
            since,
            user_exists=lambda uid: self.users.get(uid) is not None,
            grants=self.grants,
            erase=lambda uid: self.erase(uid, REPLAY_ACTOR),
            revoke=lambda uid, gid: self.revocation.revoke_grant(
                uid, gid, reason=REPLAY_REASON, actor=REPLAY_ACTOR, tell_provider=True
            ),
        )

    def prune_tombstones(self) -> int:
        """Delete tombstones past their retention (the retention sweep runs this)."""
        keep = self.catalogue.category("erasure-tombstone").retention.max_age
        tombstones = self.revocation.tombstones
        if tombstones is None or keep is None:
            return 0
        return tombstones.prune(keep.total_seconds())

    # -- erasure ---------------------------------------------------------------------------------
    def erase(self, uid: str, actor: str) -> dict[str, Any]:
        """Everything about the user goes; returns the signed receipt (nothing of it is kept)."""
        grants = 0
        channels: dict[str, int] = {}  # stopped, per provider kind
        for grant in self.grants.list(uid):
            ended = self.revocation.revoke_grant(
                uid, grant.id, reason="account erased", actor=actor, forget=True
            )
            grants += 1
            for kind, count in ((ended or {}).get("channels_stopped") or {}).items():
                channels[kind] = channels.get(kind, 0) + count
        rooms = self.rooms.forget_user(uid, actor)
        sessions = self.sessions.end_all(uid)
        self.access.forget(uid)
        history = self.rooms.forget_in_history(uid)
        deleted = self.erasure.delete_all_of(uid)
        kept = self.audit.count_about(uid) + 1  # + the erasure's own record, below
        if self.revocation.tombstones:
            self.revocation.tombstones.user_erased(
                uid, destroyed={"grants": grants, "room_links": rooms, "keys": deleted}
            )
        disk = self.revocation.scrub() if self.revocation.scrub else None
        receipt = self.signer.sign(
            {
                **({"disk": disk.as_receipt()} if disk else {}),
                "receipt": secrets.token_urlsafe(12),
                "kind": "erasure",
                "at": round(time.time(), 3),
                "subject": self.audit.pseudonym(uid),
                "deleted": {
                    "grants": grants,
                    "room_links": rooms,
                    "sessions": sessions,
                    "keys": deleted,
                    "room_history_entries": history,
                    "channels": sum(channels.values()),
                },
                **({"channels_stopped": dict(sorted(channels.items()))} if channels else {}),
                # under `subject`, the pseudonym, for the audit trail's retention
                "kept": {"audit_entries": kept},
            }
        )
        self.audit.record(
            actor=actor,
            action="account.erase",
            subject=uid,
            detail={"receipt": receipt["receipt"]},
        )
        security_event(
            "account.erase", "success", actor=actor, subject=uid, receipt=receipt["receipt"]
        )
        return receipt

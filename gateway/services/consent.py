"""Granular consent: one purpose at a time, only its scopes, and a record of every answer.

The gateway shows its own page for a purpose before the provider is asked for anything;
accepting starts an incremental authorization for exactly the catalogue's scopes. What the
provider reports as granted is compared with the purpose: if a required scope is missing,
nothing of the calendar grant is kept and the refusal is recorded. Withdrawing is one click
and ends the grant through the same revocation path as every other ending.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote

from connectors.base import Connector
from connectors.errors import ConnectorError, ProviderUnavailable
from connectors.values import Identity
from gateway.request_log import security_event
from gateway.services.consent_attempts import TypedAttempts, target_host
from gateway.services.consent_offers import ConsentError, ConsentOffers, Offer, Refusal
from gateway.services.consent_records import ConsentRecords
from gateway.services.grants import GrantService, GrantUnavailable
from gateway.services.revocation import RevocationService
from gateway.storage.attempts import AttemptCounter
from gateway.storage.audit import AuditTrail
from gateway.storage.consents import (
    REFUSED,
    ConsentEvent,
    ConsentInForce,
    ConsentStore,
)
from gateway.storage.grants import ACTIVE
from scopes import Catalogue, UnknownPurpose

log = logging.getLogger(__name__)


# Grant ids are token_urlsafe (storage/grants.py); anything else names no grant.
GRANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DISCONNECTED = "You disconnected it."
# (uid, old gid, new gid, actor) -> bindings moved: a re-consent replaced a grant
RebindHook = Callable[[str, str, str, str], int]


class ConsentService:
    def __init__(
        self,
        catalogue: Catalogue,
        store: ConsentStore,
        grants: GrantService,
        revocation: RevocationService,
        connectors: Mapping[str, Connector],
        kinds: Mapping[str, str],
        audit: AuditTrail,
        attempts: AttemptCounter | None = None,
        *,
        rebind: Sequence[RebindHook] = (),
    ) -> None:
        self.typed_attempts = TypedAttempts(attempts)
        self.records = ConsentRecords(store, audit)
        self.offers = ConsentOffers(catalogue, connectors, kinds)
        self.catalogue = catalogue
        self.audit = audit
        self.store = store
        self.grants = grants
        self.revocation = revocation
        self.connectors = dict(connectors)
        self.kinds = dict(kinds)
        # carry room bindings over to the grant that replaced theirs (RoomService.rebind_grant)
        self.rebind_hooks: list[RebindHook] = list(rebind)

    # -- what can be asked --------------------------------------------------------------------
    def offer(self, purpose_id: str, provider: str) -> Offer:
        return self.offers.offer(purpose_id, provider)

    def offers_for(self, uid: str) -> list[Offer]:
        """Optional purposes the user could grant with the providers they signed in with."""
        return self.offers.all_offers()

    # -- giving ---------------------------------------------------------------------------------
    def scopes_to_ask(self, uid: str, purpose_id: str, provider: str) -> tuple[str, ...]:
        """The scopes an authorization for the purpose asks for, once the purposes it
        requires are given; the sign-in service then starts it and, when the provider
        answers, hands the tokens to `on_authorized`. A provider whose credential is typed
        (an app password) has no authorization to start: its form posts to `connect_typed`."""
        offer = self.offer(purpose_id, provider)
        if offer.fields:
            raise ConsentError("credential_required", "Fill in the form to connect.", 400)
        self._check_required(uid, offer)
        return offer.scopes

    def _check_required(self, uid: str, offer: Offer) -> None:
        in_force = {(c.purpose, c.provider) for c in self.store.in_force(uid)}
        for required in offer.purpose.requires:
            if (required, offer.provider) not in in_force:
                title = self.catalogue.purpose(required).title
                raise ConsentError(
                    "requires_other_purpose", f"Give consent for “{title}” first.", 409
                )

    def takes_typed_credential(self, provider: str) -> bool:
        return self.offers.takes_typed_credential(provider)

    def connect_typed(
        self, uid: str, purpose_id: str, provider: str, fields: Mapping[str, str]
    ) -> str:
        """A grant from a credential the person typed (an app password), checked with the
        provider at once; where to go next. A refusal keeps nothing and says why; attempts
        are limited per person and, for failures, per target host."""
        offer = self.offer(purpose_id, provider)
        self._check_required(uid, offer)
        typed = {f.name: str(fields.get(f.name) or "") for f in offer.fields}
        host = target_host(offer.fields, typed)
        self.typed_attempts.admit(uid, host, provider)
        try:
            identity = self.connectors[provider].connect(typed, offer.scopes)
        except ProviderUnavailable as error:
            raise ConsentError(
                error.code, f"The server did not answer in time: {error.message}.", 502
            ) from None
        except ConnectorError as error:
            self.typed_attempts.failed(host)
            security_event(
                "consent.give",
                "refused",
                actor=uid,
                subject=uid,
                provider=provider,
                reason=error.code,
            )
            raise ConsentError(error.code, error.message, 400) from None
        finally:
            typed.clear()
        return self.on_authorized(uid, purpose_id, identity)

    def on_authorized(self, uid: str, purpose_id: str, identity: Identity) -> str:
        """Keep the grant if it covers the purpose; otherwise keep nothing but the refusal."""
        offer = self.offer(purpose_id, identity.provider)
        consent = offer.purpose.consent
        granted = tuple(sorted(identity.tokens.granted_scopes)) if identity.tokens else ()
        record = {
            "purpose": purpose_id,
            "provider": identity.provider,
            "version": consent.version,
            "digest": consent.digest,
            "requested": offer.scopes,
            "granted": granted,
        }
        try:
            grant = self.grants.create(uid, purpose_id, identity)
        except GrantUnavailable:
            self.records.refused(uid, record)
            return f"/consent/{quote(purpose_id)}/incomplete?provider={quote(identity.provider)}"
        # A consent replaces the earlier grant of the same purpose and provider account only:
        # another account of the same provider (a second Google account) keeps its own.
        new = self.grants.record(uid, grant.id)
        replaced = [
            g
            for g in self.grants.records(uid)
            if g.id != grant.id
            and g.purpose == purpose_id
            and g.provider == identity.provider
            and (new is None or self.grants.same_account(g, new))
        ]
        for old in replaced:
            for rebind in self.rebind_hooks:
                rebind(uid, old.id, grant.id, uid)
            self.revocation.revoke_grant(
                uid, old.id, reason="replaced", actor=uid, forget=True, tell_provider=False
            )
        self.records.given(uid, grant.id, record, len(replaced))
        return "/account"

    def last_refusal(self, uid: str, purpose_id: str, provider: str) -> Refusal | None:
        offer = self.offer(purpose_id, provider)
        for event in reversed(self.store.history(uid)):
            if event.purpose == purpose_id and event.provider == provider:
                if event.action != REFUSED:
                    return None
                missing = offer.purpose.missing_scopes(
                    self.kinds[provider],
                    event.granted,
                )
                return Refusal(purpose_id, provider, tuple(missing))
        return None

    # -- withdrawing ----------------------------------------------------------------------------
    def withdraw(self, uid: str, purpose_id: str, provider: str) -> int:
        """End the consent: its grants go (tokens, cache, bindings), and the record says so."""
        self.offer(purpose_id, provider)
        ended = 0
        for grant in self.grants.list(uid):
            if grant.purpose == purpose_id and grant.provider == provider:
                self.revocation.revoke_grant(
                    uid, grant.id, reason="consent withdrawn", actor=uid, forget=True
                )
                ended += 1
        return self._withdrawn(uid, purpose_id, provider, ended)

    def disconnect(self, uid: str, gid: str) -> bool:
        """The owner ends one grant ("Disconnect"); False when it is not one of theirs.

        A grant is what a consent was given for: when no other active grant of the same
        purpose and provider remains, the consent is withdrawn too (recorded in the consent
        log, dependent purposes with it), so the account page never lists as given a
        consent that nothing stands on. The grant's record stays, marked revoked, so the
        page says it was disconnected."""
        grant = self.grants.get(uid, gid) if GRANT_ID.match(gid) else None
        if grant is None:
            return False
        self.revocation.revoke_grant(uid, gid, reason=DISCONNECTED, actor=uid)
        still_backed = any(
            g.id != gid
            and g.purpose == grant.purpose
            and g.provider == grant.provider
            and g.status == ACTIVE
            for g in self.grants.list(uid)
        )
        if not still_backed and self.is_given(uid, grant.purpose, grant.provider):
            self._withdrawn(uid, grant.purpose, grant.provider, 1, grant=gid)
        return True

    def _withdrawn(
        self, uid: str, purpose_id: str, provider: str, ended: int, grant: str = ""
    ) -> int:
        """Record the withdrawal, then withdraw the purposes that required this one."""
        try:
            consent = self.catalogue.purpose(purpose_id).consent
            version, digest = consent.version, consent.digest
        except UnknownPurpose:  # a purpose since taken out of the catalogue still ends
            version, digest = "", ""
        self.records.withdrawn(
            uid, purpose_id, provider, version=version, digest=digest, grant=grant, ended=ended
        )
        # A purpose that required this one cannot stand without it.
        for other in self.catalogue.purposes:
            if purpose_id in other.requires and self.is_given(uid, other.id, provider):
                ended += self.withdraw(uid, other.id, provider)
        return ended

    # -- reading --------------------------------------------------------------------------------
    def is_given(self, uid: str, purpose_id: str, provider: str) -> bool:
        return any(
            c.purpose == purpose_id and c.provider == provider for c in self.store.in_force(uid)
        )

    def is_current(self, uid: str, purpose_id: str, provider: str) -> bool:
        """Given for the consent text in force now; a new text version asks again."""
        version = self.catalogue.purpose(purpose_id).consent.version
        return any(
            c.purpose == purpose_id and c.provider == provider and c.version == version
            for c in self.store.in_force(uid)
        ) and any(
            g.purpose == purpose_id and g.provider == provider and g.status == ACTIVE
            for g in self.grants.list(uid)
        )

    def history(self, uid: str) -> list[ConsentEvent]:
        return self.store.history(uid)

    def in_force(self, uid: str) -> list[ConsentInForce]:
        """The consents `uid` has given and not withdrawn."""
        return self.store.in_force(uid)

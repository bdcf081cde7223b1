"""Grants: what a user gives for one purpose with one provider, and the tokens it owns.

Tokens are sealed under the grant's own data key (gateway.crypto.vault). Using them (a live
access token, refreshed single-flight, and the endings a provider's refusal brings) is
services/grant_tokens.py's.
An API that refuses an access token (401) gets one forced refresh; refused again, the grant
ends the same way (`refused`), and a 403 for want of permission marks it "needs consent":
the owner sees it on the account page, and its rooms answer `needs_reconnect`.
Whenever a grant ends here, `GrantEndings` tells the in-process caches to drop what they
hold of it.
"""

from __future__ import annotations

import builtins
import hmac
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.base import Connector
from connectors.errors import AccessRefused
from connectors.values import CalendarInfo, Identity, TokenSet
from gateway.crypto.keyring import DecryptionFailed, KeyRetired
from gateway.crypto.vault import Vault, grant_context
from gateway.services.grant_tokens import GrantTokens, GrantUnavailable
from gateway.services.grant_tokens import KeyRingIncomplete as KeyRingIncomplete  # re-exported
from gateway.services.sealed_tokens import opened, sealable
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import ACTIVE as ACTIVE  # re-exported for the blueprints
from gateway.storage.grants import (
    BROKEN,
    NEEDS_CONSENT,
    GrantRecord,
    GrantStore,
)
from gateway.storage.grants import REVOKED as REVOKED  # re-exported for the blueprints

log = logging.getLogger(__name__)

# (purpose, provider name, granted scopes) -> the scopes the purpose needs but lacks
MissingScopes = Callable[[str, str, frozenset[str]], tuple[str, ...]]
# (uid, gid): a grant ended (revoked, erased, refused); drop what a process keeps of it
# a listener may return counts of what it ended, by kind ({"google": 1} channels stopped)
EndedHook = Callable[[str, str], object]


@dataclass(frozen=True)
class GrantView:
    """What the owner may see of a grant: never a token."""

    id: str
    provider: str
    purpose: str
    status: str
    reason: str
    scopes: tuple[str, ...]
    created: float
    last_used: float
    last_refreshed: float


class GrantEndings:
    """Who in this process must hear that a grant ended: the in-process caches keyed by
    grant id. A listener subscribes in its own constructor, given this object, so the
    factory's calls show every one."""

    def __init__(self) -> None:
        self._listeners: list[EndedHook] = []

    def subscribe(self, listener: EndedHook) -> None:
        self._listeners.append(listener)

    def announce(self, uid: str, gid: str, *, contained: bool = False) -> dict[str, int]:
        """Tell every listener; `contained`: a listener's failure is logged, not raised.
        The counts the listeners returned, added up (for the receipt)."""
        counts: dict[str, int] = {}
        for listener in self._listeners:
            try:
                found = listener(uid, gid)
            except Exception as error:
                if not contained:
                    raise
                log.error("grant listener failed: %s", type(error).__name__)
                continue
            if isinstance(found, Mapping):
                for kind, count in found.items():
                    counts[str(kind)] = counts.get(str(kind), 0) + int(count)
        return counts


class GrantService:
    def __init__(
        self,
        store: GrantStore,
        vault: Vault,
        connectors: Mapping[str, Connector],
        missing_scopes: MissingScopes,
        audit: AuditTrail,
        *,
        scrub: Callable[[], object] | None = None,
        endings: GrantEndings | None = None,
        losses: GrantEndings | None = None,
        account_mark: Callable[[str, str], str] | None = None,
    ) -> None:
        self.store = store
        self.vault = vault
        self.connectors = dict(connectors)
        self.missing_scopes = missing_scopes
        self.audit = audit
        self.endings = endings or GrantEndings()
        # (uid, gid): a grant ended without its owner (the provider refused it, its tokens
        # broke); its rooms need reconnecting (services/connection_health.py tells the host)
        self.losses = losses or GrantEndings()
        # asks for purged tokens to leave Redis's disk too (services/disk_scrub.py)
        self.scrub = scrub
        # (provider, subject) -> a keyed hash: which provider account a grant is for, kept
        # beside the sealed subject so that it can be compared after the key is gone
        self.account_mark = account_mark
        self.tokens = GrantTokens(store, vault, self.connectors, missing_scopes, self._purge)

    def ended(self, uid: str, gid: str) -> None:
        """Tell every in-process cache that the grant ended (revocation calls it too)."""
        self.endings.announce(uid, gid)

    def _purge(self, record: GrantRecord, *, status: str, reason: str, actor: str) -> None:
        """End the grant here without its owner asking: tokens gone, what this process
        remembers of it gone, the disk scrub asked for, and one audit record (a change to
        the person's data that they did not make)."""
        self.store.purge(record.uid, record.id, status=status, reason=reason)
        self.ended(record.uid, record.id)
        if self.scrub is not None:
            self.scrub()
        self.losses.announce(record.uid, record.id, contained=True)  # never fails the request
        self.audit.record(
            actor=actor,
            action="grant.needs_consent" if status == NEEDS_CONSENT else "grant.revoke",
            subject=record.uid,
            purpose=record.purpose,
            result=status,
            detail={"provider": record.provider},
        )

    # -- what other services may keep under a grant's data key (rooms: the bound calendar) --
    def record(self, uid: str, gid: str) -> GrantRecord | None:
        """The grant as stored (sealed fields still sealed), or None."""
        return self.store.load(uid, gid)

    def records(self, uid: str) -> builtins.list[GrantRecord]:
        return self.store.list(uid)

    def every_grant(self) -> Iterator[tuple[str, str]]:
        """(uid, gid) of every grant (SCAN: sweeps only)."""
        return self.store.every_grant()

    def seal(self, record: GrantRecord, value: Any, field: str) -> str | None:
        """`value` sealed under the grant's data key for `field`; None when the grant is not
        usable or its key does not unwrap (nothing can be kept under it)."""
        data_key = self._data_key(record)
        if data_key is None:
            return None
        context = grant_context(record.uid, record.provider, record.id)
        return self.vault.seal_json(data_key, value, context, field)

    def open_many(
        self, record: GrantRecord, sealed: Sequence[str], field: str
    ) -> builtins.list[Any] | None:
        """Each of `sealed` opened with one unwrap of the grant's key; None for the lot when
        the key is unusable, None for one that does not decrypt (altered, or moved)."""
        data_key = self._data_key(record)
        if data_key is None:
            return None
        context = grant_context(record.uid, record.provider, record.id)
        opened: builtins.list[Any] = []
        for text in sealed:
            try:
                opened.append(self.vault.open_json(data_key, text, context, field))
            except DecryptionFailed:
                opened.append(None)
        return opened

    def subject(self, record: GrantRecord) -> str | None:
        """The provider account the grant is for (its sealed subject), or None."""
        if not record.sealed_subject:
            return None
        opened = self.open_many(record, [record.sealed_subject], "subject")
        return None if not opened or opened[0] is None else str(opened[0])

    def same_account(self, one: GrantRecord, other: GrantRecord) -> bool:
        """Whether two grants are for one provider account: by their keyed marks, else (a
        grant from before the marks) by their opened subjects. One whose account cannot be
        known any more counts as the same: it is replaced, as every grant once was."""
        if one.provider != other.provider:
            return False
        if one.account_mark and other.account_mark:
            return hmac.compare_digest(one.account_mark, other.account_mark)
        subjects = self.subject(one), self.subject(other)
        return None in subjects or subjects[0] == subjects[1]

    def calendars(self, record: GrantRecord) -> builtins.list[CalendarInfo] | None:
        """The calendars the grant's account may use; None when the provider does not list
        them. Raises GrantUnavailable or ConnectorError."""
        connector = self.connectors.get(record.provider)
        if connector is None or connector.capabilities.addressing != "listed":
            return None
        return list(connector.list_calendars(self.access_token(record.uid, record.id)))

    def _data_key(self, record: GrantRecord) -> bytes | None:
        if not record.usable:
            return None
        context = grant_context(record.uid, record.provider, record.id)
        try:
            return self.vault.owner_key(str(record.wrapped_key), context)
        except (KeyRetired, DecryptionFailed):
            log.error("grant key does not unwrap: user=%s grant=%s", record.uid, record.id)
            return None

    # -- creating --------------------------------------------------------------------------
    def create(self, uid: str, purpose: str, identity: Identity) -> GrantView:
        """Keep the tokens of an authorization that covers `purpose` (checked here too)."""
        tokens = identity.tokens
        if tokens is None:
            raise GrantUnavailable(BROKEN, "the provider returned no tokens for this purpose")
        missing = self.missing_scopes(purpose, identity.provider, tokens.granted_scopes)
        if missing:
            raise GrantUnavailable(NEEDS_CONSENT, "not granted: " + " ".join(sorted(missing)))
        gid = self.store.new_id()
        context = grant_context(uid, identity.provider, gid)
        data_key, wrapped = self.vault.new_owner_key(context)
        self.store.create(
            uid,
            gid,
            provider=identity.provider,
            purpose=purpose,
            scopes=tokens.granted_scopes,
            expires_at=tokens.expires_at or 0.0,
            wrapped_key=wrapped,
            sealed_tokens=self.vault.seal_json(data_key, sealable(tokens), context, "tokens"),
            sealed_subject=self.vault.seal_json(data_key, identity.subject, context, "subject"),
            account_mark=(
                self.account_mark(identity.provider, identity.subject) if self.account_mark else ""
            ),
        )
        log.info("grant created: user=%s grant=%s purpose=%s", uid, gid, purpose)
        record = self.store.load(uid, gid)
        assert record is not None
        return _view(record)

    def states(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str] | None]:
        """(provider, status) of several grants at once: one round trip, not one per grant."""
        return self.store.states(pairs)

    def list(self, uid: str) -> list[GrantView]:
        return [_view(r) for r in self.store.list(uid)]

    def get(self, uid: str, gid: str) -> GrantView | None:
        record = self.store.load(uid, gid)
        return _view(record) if record else None

    def tokens_if_readable(self, uid: str, gid: str) -> TokenSet | None:
        """The grant's tokens for telling the provider to revoke them; None if gone."""
        record = self.store.load(uid, gid)
        if record is None or record.wrapped_key is None or record.sealed_tokens is None:
            return None
        context = grant_context(uid, record.provider, gid)
        try:
            data_key = self.vault.owner_key(record.wrapped_key, context)
            data = self.vault.open_json(data_key, record.sealed_tokens, context, "tokens")
        except DecryptionFailed:
            return None
        return opened(data, record)

    # -- using (services/grant_tokens.py) ------------------------------------------------------
    def access_token(self, uid: str, gid: str, refused: str | None = None) -> str:
        """A live access token for the grant (GrantTokens.access_token)."""
        return self.tokens.access_token(uid, gid, refused)

    def keep_alive(self, uid: str, gid: str) -> bool:
        """Refresh the grant's tokens now, not counted as a use (GrantTokens.keep_alive)."""
        return self.tokens.keep_alive(uid, gid)

    def refused(self, uid: str, gid: str, error: AccessRefused) -> GrantUnavailable:
        """End a grant whose access a provider API refused (GrantTokens.refused)."""
        return self.tokens.refused(uid, gid, error)


def _view(record: GrantRecord) -> GrantView:
    return GrantView(
        id=record.id,
        provider=record.provider,
        purpose=record.purpose,
        status=record.status,
        reason=record.reason,
        scopes=tuple(sorted(record.scopes)),
        created=record.created,
        last_used=record.last_used,
        last_refreshed=record.last_refreshed,
    )

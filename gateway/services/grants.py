"""Grants: what a user gives for one purpose with one provider, and the tokens it owns.

Tokens are sealed under the grant's own data key (gateway.crypto.vault). An access token is
handed out while it has more than REFRESH_MARGIN_SECONDS to live; after that exactly one
caller, across every process, refreshes it (a Redis lock plus a fenced write, see
gateway.storage.grants) while the others wait for its result. A provider that answers
`invalid_grant` ends the grant (revoked, tokens and cache purged, reason kept for the owner);
a refresh that comes back without the scopes the purpose needs marks it "needs consent".
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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.base import CalendarInfo, Connector, Identity, TokenSet
from connectors.errors import (
    AccessRefused,
    ConnectorError,
    ConsentWithdrawn,
    GrantInvalid,
    ScopeRefused,
)
from gateway import metrics
from gateway.crypto.keyring import DecryptionFailed, KeyRetired
from gateway.crypto.vault import Vault, grant_context
from gateway.request_log import security_event
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import ACTIVE as ACTIVE  # re-exported for the blueprints
from gateway.storage.grants import (
    BROKEN,
    NEEDS_CONSENT,
    REVOKED,
    GrantRecord,
    GrantStore,
)

log = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 120
REFRESH_WAIT_SECONDS = 20.0
POLL_SECONDS = 0.02

# (purpose, provider name, granted scopes) -> the scopes the purpose needs but lacks
MissingScopes = Callable[[str, str, frozenset[str]], tuple[str, ...]]
# (uid, gid): a grant ended (revoked, erased, refused); drop what a process keeps of it
EndedHook = Callable[[str, str], None]


class GrantUnavailable(Exception):
    """The grant cannot be used; `status` says why (revoked, needs_consent, broken...)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class KeyRingIncomplete(RuntimeError):
    """A data key is wrapped by a key-encryption key missing from configuration."""


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

    def announce(self, uid: str, gid: str, *, contained: bool = False) -> None:
        """Tell every listener; `contained`: a listener's failure is logged, not raised."""
        for listener in self._listeners:
            try:
                listener(uid, gid)
            except Exception as error:
                if not contained:
                    raise
                log.error("grant listener failed: %s", type(error).__name__)


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
            sealed_tokens=self.vault.seal_json(data_key, tokens.to_dict(), context, "tokens"),
            sealed_subject=self.vault.seal_json(data_key, identity.subject, context, "subject"),
            account_mark=(
                self.account_mark(identity.provider, identity.subject) if self.account_mark else ""
            ),
        )
        log.info("grant created: user=%s grant=%s purpose=%s", uid, gid, purpose)
        record = self.store.load(uid, gid)
        assert record is not None
        return _view(record)

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
        return TokenSet.from_dict(data)

    # -- using -------------------------------------------------------------------------------
    def access_token(self, uid: str, gid: str, refused: str | None = None) -> str:
        """A live access token for the grant, refreshing it single-flight when due; with
        `refused` (a token the provider's API just refused), never that one: it is
        refreshed unless another caller already has."""
        deadline = time.monotonic() + REFRESH_WAIT_SECONDS
        while True:
            record = self._usable(uid, gid)
            tokens = self._open_tokens(record)
            if _fresh(tokens) and (refused is None or tokens.access_token != refused):
                self.store.touch_used(record)
                return str(tokens.access_token)
            holder = self.store.try_lock(uid, gid)
            if holder is None:
                self._wait_for_refresh(record, deadline)
                continue
            try:
                current = self.store.load(uid, gid)
                if current is None or current.version != record.version:
                    continue  # someone refreshed (or revoked) between our read and the lock
                refreshed = self._refresh(record, tokens, holder)
                if refreshed is not None:
                    return refreshed
            finally:
                self.store.unlock(uid, gid, holder)

    def keep_alive(self, uid: str, gid: str) -> bool:
        """Refresh the grant's tokens now, whether or not anyone asked for them: a refresh
        token unused for long expires at the provider (Microsoft: 90 days), so a room asked
        about once a month would die. Not a use: `last_used` stays as it was, so the
        retention sweep still ends grants nobody uses. False when another process holds the
        refresh or the grant changed meanwhile; raises like `access_token`."""
        record = self._usable(uid, gid)
        tokens = self._open_tokens(record)
        holder = self.store.try_lock(uid, gid)
        if holder is None:
            return False
        try:
            current = self.store.load(uid, gid)
            if current is None or current.version != record.version:
                return False
            return self._refresh(record, tokens, holder, used=False) is not None
        finally:
            self.store.unlock(uid, gid, holder)

    def _usable(self, uid: str, gid: str) -> GrantRecord:
        record = self.store.load(uid, gid)
        if record is None:
            raise GrantUnavailable(REVOKED, "no such grant")
        if not record.usable:
            raise GrantUnavailable(record.status, record.reason or record.status)
        return record

    def _open_tokens(self, record: GrantRecord) -> TokenSet:
        context = grant_context(record.uid, record.provider, record.id)
        try:
            data_key = self.vault.owner_key(str(record.wrapped_key), context)
            sealed = str(record.sealed_tokens)
            return TokenSet.from_dict(self.vault.open_json(data_key, sealed, context, "tokens"))
        except KeyRetired as error:
            raise KeyRingIncomplete(str(error)) from None
        except DecryptionFailed:
            log.error("grant tokens do not decrypt: user=%s grant=%s", record.uid, record.id)
            self._purge(
                record,
                status=BROKEN,
                reason="Its stored tokens were unreadable and have been deleted; "
                "connect the calendar again.",
                actor="system",
            )
            raise GrantUnavailable(BROKEN, "the grant's tokens are unreadable") from None

    def _lose_scope(self, record: GrantRecord, what: str) -> GrantUnavailable:
        """The grant no longer covers its purpose: tokens go, and the person is asked for
        consent again (not told it was revoked). The error for the caller to raise."""
        metrics.refresh("scope_lost")
        self._purge(
            record,
            status=NEEDS_CONSENT,
            reason=f"{what}; give consent again to use this calendar.",
            actor="provider",
        )
        _refresh_failed(record, "scope_lost")
        return GrantUnavailable(NEEDS_CONSENT, "the grant no longer covers its purpose")

    def _end_refused(self, record: GrantRecord, reason: str, code: str) -> GrantUnavailable:
        """The provider no longer accepts the grant: revoked here, why kept for the owner."""
        metrics.revocation("provider")
        self._purge(record, status=REVOKED, reason=reason, actor="provider")
        _refresh_failed(record, code)
        return GrantUnavailable(REVOKED, "the provider revoked this grant")

    def refused(self, uid: str, gid: str, error: AccessRefused) -> GrantUnavailable:
        """A provider API refused the grant's fresh access token (after one forced refresh)
        or its scopes: end the grant so its owner sees why (the error for the caller to
        raise). Nothing happens to a grant that already ended."""
        record = self.store.load(uid, gid)
        if record is None or not record.usable:
            return GrantUnavailable(record.status if record else REVOKED, "the grant ended")
        if isinstance(error, ScopeRefused):
            return self._lose_scope(
                record, "The provider refuses this grant access to the calendar"
            )
        return self._end_refused(
            record,
            "The provider refuses this grant's access tokens (revoked there, or access "
            "withdrawn). Connect the calendar again to restore it.",
            error.code,
        )

    def _refresh(
        self, record: GrantRecord, tokens: TokenSet, holder: str, *, used: bool = True
    ) -> str | None:
        connector = self.connectors[record.provider]
        started = time.monotonic()
        try:
            fresh = connector.refresh(tokens, tuple(sorted(record.scopes)))
        except ConsentWithdrawn as error:
            metrics.provider_call(
                record.provider, "refresh", error.code, time.monotonic() - started
            )
            raise self._lose_scope(record, "Consent to this calendar was withdrawn") from None
        except GrantInvalid as error:
            metrics.provider_call(
                record.provider, "refresh", error.code, time.monotonic() - started
            )
            metrics.refresh("invalid_grant")
            raise self._end_refused(
                record,
                "The provider no longer accepts this grant (revoked there, expired or "
                "replaced). Connect the calendar again to restore it.",
                error.code,
            ) from None
        except ConnectorError as error:
            metrics.provider_call(
                record.provider, "refresh", error.code, time.monotonic() - started
            )
            metrics.refresh("failed")
            _refresh_failed(record, error.code)
            raise
        metrics.provider_call(record.provider, "refresh", "ok", time.monotonic() - started)
        missing = self.missing_scopes(record.purpose, record.provider, fresh.granted_scopes)
        if missing:
            withheld = ", ".join(sorted(missing))
            raise self._lose_scope(record, f"The provider now withholds {withheld}")
        metrics.refresh("ok")
        context = grant_context(record.uid, record.provider, record.id)
        data_key = self.vault.owner_key(str(record.wrapped_key), context)
        written = self.store.write_refreshed(
            record,
            holder,
            sealed_tokens=self.vault.seal_json(data_key, fresh.to_dict(), context, "tokens"),
            scopes=fresh.granted_scopes,
            expires_at=fresh.expires_at or 0.0,
        )
        if not written:
            return None  # lost the lock or raced a revocation: read again
        if used:
            self.store.touch_used(record)
        return str(fresh.access_token)

    def _wait_for_refresh(self, seen: GrantRecord, deadline: float) -> None:
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            current = self.store.load(seen.uid, seen.id)
            if current is None or current.version != seen.version:
                return
            if not self.store.locked(seen.uid, seen.id):
                return
        raise GrantUnavailable("busy", "the provider is slow to refresh this grant; try again")


def _fresh(tokens: TokenSet) -> bool:
    if not tokens.access_token or not tokens.expires_at:
        return False
    return tokens.expires_at - REFRESH_MARGIN_SECONDS > time.time()


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


def _refresh_failed(record: GrantRecord, code: str) -> None:
    """One security record per failed refresh, whatever the provider said."""
    security_event(
        "token.refresh",
        "failure",
        actor="system",
        subject=record.uid,
        grant=record.id,
        provider=record.provider,
        reason=code,
    )

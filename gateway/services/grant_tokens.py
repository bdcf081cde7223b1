"""Using a grant: a live access token, refreshed single-flight when due, and how a grant
ends when the provider no longer accepts it.

An access token is handed out while it has more than REFRESH_MARGIN_SECONDS to live; after
that exactly one caller, across every process, refreshes it (a Redis lock plus a fenced
write, see gateway.storage.grants) while the others wait for its result. A provider that
answers `invalid_grant` ends the grant (revoked, tokens and cache purged, reason kept for
the owner); a refresh that comes back without the scopes the purpose needs marks it "needs
consent". The grant service (services/grants.py) hands these calls here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from connectors.base import Connector
from connectors.errors import (
    AccessRefused,
    ConnectorError,
    ConsentWithdrawn,
    GrantInvalid,
    ScopeRefused,
)
from connectors.values import TokenSet
from gateway import metrics
from gateway.crypto.keyring import DecryptionFailed, KeyRetired
from gateway.crypto.vault import Vault, grant_context
from gateway.request_log import security_event
from gateway.services.sealed_tokens import opened, sealable
from gateway.storage.grants import BROKEN, NEEDS_CONSENT, REVOKED, GrantRecord, GrantStore

if TYPE_CHECKING:
    from gateway.services.grants import MissingScopes

log = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 120
REFRESH_WAIT_SECONDS = 20.0
POLL_SECONDS = 0.02


class GrantUnavailable(Exception):
    """The grant cannot be used; `status` says why (revoked, needs_consent, broken...)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class KeyRingIncomplete(RuntimeError):
    """A data key is wrapped by a key-encryption key missing from configuration."""


# (record, status, reason, actor): end the grant without its owner (GrantService._purge)
Purge = Callable[..., None]


class GrantTokens:
    def __init__(
        self,
        store: GrantStore,
        vault: Vault,
        connectors: Mapping[str, Connector],
        missing_scopes: MissingScopes,
        purge: Purge,
    ) -> None:
        self.store = store
        self.vault = vault
        self.connectors = connectors
        self.missing_scopes = missing_scopes
        self.purge = purge

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

    def token_of(self, record: GrantRecord | None) -> str:
        """`access_token` for a grant a cold round has just read (services/freebusy_round.py):
        no second read of its hash unless its token is due for a refresh, which goes the
        single-flight way of `access_token`."""
        if record is None:
            raise GrantUnavailable(REVOKED, "no such grant")
        if not record.usable:
            raise GrantUnavailable(record.status, record.reason or record.status)
        tokens = self._open_tokens(record)
        if _fresh(tokens):
            self.store.touch_used(record)
            return str(tokens.access_token)
        return self.access_token(record.uid, record.id)

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
            return opened(self.vault.open_json(data_key, sealed, context, "tokens"), record)
        except KeyRetired as error:
            raise KeyRingIncomplete(str(error)) from None
        except DecryptionFailed:
            log.error("grant tokens do not decrypt: user=%s grant=%s", record.uid, record.id)
            self.purge(
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
        self.purge(
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
        self.purge(record, status=REVOKED, reason=reason, actor="provider")
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
            sealed_tokens=self.vault.seal_json(data_key, sealable(fresh), context, "tokens"),
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

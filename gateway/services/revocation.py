"""One way to end a grant, whoever ends it: the user, an admin, or the provider.

Order matters for crash safety: first everything here is destroyed (epoch bumped so no
in-flight fetch writes back, wrapped data key and tokens deleted, cached data dropped,
room bindings removed), then the provider is told. A crash after the first step leaves
nothing readable behind; retrying is harmless (every step is idempotent).

Google shares one refresh token across every scope a user granted this client (incremental
authorization), so revoking at Google ends all of that user's Google grants here too: the
provider is told only when the last Google grant of the user goes, or when asked to.
Microsoft has no revocation endpoint; the owner is shown where to remove the app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from connectors.base import Connector
from connectors.errors import ConnectorError
from gateway.services.grants import GrantService
from gateway.storage.grants import ACTIVE, REVOKED, GrantStore

log = logging.getLogger(__name__)

# (uid, gid, actor) -> number of room bindings removed
UnbindHook = Callable[[str, str, str], int]


@dataclass
class Revoked:
    grant: str
    provider: str
    cached_deleted: int = 0
    bindings_removed: int = 0
    provider_told: bool = False
    provider_error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


class RevocationService:
    def __init__(
        self,
        store: GrantStore,
        grants: GrantService,
        connectors: Mapping[str, Connector],
    ) -> None:
        self.store = store
        self.grants = grants
        self.connectors = dict(connectors)
        self.unbind_hooks: list[UnbindHook] = []

    def revoke_grant(
        self,
        uid: str,
        gid: str,
        *,
        reason: str,
        actor: str,
        forget: bool = False,
        tell_provider: bool | None = None,
    ) -> Revoked | None:
        """End one grant. `forget` deletes its record too (withdrawal, erasure); otherwise
        the record stays, without secrets, with `reason` for its owner to read."""
        record = self.store.load(uid, gid)
        if record is None:
            return None
        tokens = self.grants.tokens_if_readable(uid, gid)
        result = Revoked(grant=gid, provider=record.provider)
        result.cached_deleted = self.store.purge(
            uid, gid, status=REVOKED, reason=reason, forget=forget
        )
        for unbind in self.unbind_hooks:
            result.bindings_removed += unbind(uid, gid, actor)
        if tell_provider is None:
            tell_provider = not self._other_live_grants(uid, gid, record.provider)
        connector = self.connectors.get(record.provider)
        if tell_provider and tokens is not None and connector is not None:
            try:
                result.provider_told = connector.revoke(tokens)
            except ConnectorError as error:
                result.provider_error = error.code
        log.info(
            "grant revoked: user=%s grant=%s actor=%s provider_told=%s",
            uid,
            gid,
            actor,
            result.provider_told,
        )
        return result

    def _other_live_grants(self, uid: str, gid: str, provider: str) -> bool:
        return any(
            g.id != gid and g.provider == provider and g.status == ACTIVE
            for g in self.grants.list(uid)
        )

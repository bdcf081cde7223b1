"""Key-ring administration: which key versions are in use, re-wrapping, retiring.

Rotation re-wraps each data key under the newest key-encryption key with a compare-and-set,
so it runs while traffic continues: a grant revoked or refreshed meanwhile is simply skipped
or keeps its (unchanged) data key. Only data keys are re-wrapped; the data they protect is
never decrypted or rewritten. A version is retired only when no data key uses it any more.
Both are security-relevant changes: one audit record each, with counts and versions only.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.crypto.keyring import KeyRing
from gateway.crypto.vault import Vault, grant_context, user_context
from gateway.storage import keys
from gateway.storage.audit import AuditTrail
from gateway.storage.stable_secrets import CONTEXT as STABLE_CONTEXT
from gateway.storage.wrapped_keys import WrappedKeyStore


class RotationRefused(Exception):
    """The ring's newest version was retired: rotating onto it would undo the retirement."""


class KeyInUse(Exception):
    def __init__(self, version: str, count: int) -> None:
        super().__init__(f"key version {version!r} still wraps {count} data key(s)")
        self.count = count


@dataclass(frozen=True)
class RotationReport:
    rewrapped: int
    already_newest: int
    changed_meanwhile: int


class KeyRotation:
    """The key ring's administration over the stored wrapped data keys."""

    def __init__(self, store: WrappedKeyStore, vault: Vault, audit: AuditTrail) -> None:
        self.store = store
        self.vault = vault
        self.audit = audit

    @property
    def keyring(self) -> KeyRing:
        return self.vault.keyring

    def _context(self, key: str) -> str:
        if key == keys.STABLE_SECRETS:
            return STABLE_CONTEXT
        uid = keys.owner_of_key(key)
        if key.endswith(":profile"):
            return user_context(uid)
        gid = key.rpartition(":grant:")[2]
        return grant_context(uid, self.store.provider_of(key), gid)

    def usage(self) -> dict[str, int]:
        """How many data keys each key version wraps."""
        counts: dict[str, int] = {}
        for _, wrapped in self.store.every():
            version = KeyRing.version_of(wrapped)
            counts[version] = counts.get(version, 0) + 1
        return counts

    def retired(self) -> set[str]:
        return self.store.retired()

    def rotate(self, actor: str) -> RotationReport:
        newest = self.keyring.newest
        if newest in self.retired():
            raise RotationRefused(f"the newest key version {newest!r} was retired")
        rewrapped = already = changed = 0
        for key, wrapped in self.store.every():
            if KeyRing.version_of(wrapped) == newest:
                already += 1
                continue
            new = self.vault.rewrap(wrapped, self._context(key))
            if self.store.rewrap(key, wrapped, new):
                rewrapped += 1
            else:
                changed += 1
        self.audit.record(
            actor=actor,
            action="keys.rotate",
            detail={
                "version": newest,
                "rewrapped": rewrapped,
                "already_newest": already,
                "changed_meanwhile": changed,
            },
        )
        return RotationReport(rewrapped, already, changed)

    def retire(self, version: str, actor: str) -> None:
        if version == self.keyring.newest:
            raise RotationRefused(f"{version!r} is the newest key version: rotate to another first")
        if version not in self.keyring.versions:
            raise RotationRefused(f"{version!r} is not in the configured key ring")
        count = self.usage().get(version, 0)
        if count:
            raise KeyInUse(version, count)
        self.store.retire(version)
        self.audit.record(actor=actor, action="keys.retire", detail={"version": version})

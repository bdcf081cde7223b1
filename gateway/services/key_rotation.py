"""Key-ring administration: which key versions are in use, re-wrapping, retiring.

Rotation re-wraps each data key under the newest key-encryption key with a compare-and-set,
so it runs while traffic continues: a grant revoked or refreshed meanwhile is simply skipped
or keeps its (unchanged) data key. Only data keys are re-wrapped; the data they protect is
never decrypted or rewritten. A version is retired only when no data key uses it any more.
Both are security-relevant changes: one audit record each, with counts and versions only.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from gateway.crypto.keyring import KeyRing
from gateway.crypto.vault import Vault, grant_context, user_context
from gateway.storage import keys
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import GrantStore, wrapped_keys
from gateway.storage.stable_secrets import CONTEXT as STABLE_CONTEXT


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


def _context(client: redis.Redis, key: str) -> str:
    if key == keys.STABLE_SECRETS:
        return STABLE_CONTEXT
    uid = keys.owner_of_key(key)
    if key.endswith(":profile"):
        return user_context(uid)
    gid = key.rpartition(":grant:")[2]
    return grant_context(uid, str(client.hget(key, "provider")), gid)


def key_usage(client: redis.Redis) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, wrapped in wrapped_keys(client):
        version = KeyRing.version_of(wrapped)
        counts[version] = counts.get(version, 0) + 1
    return counts


def retired_versions(client: redis.Redis) -> set[str]:
    return {str(v) for v in client.smembers(keys.RETIRED_KEY_VERSIONS)}


def rotate(client: redis.Redis, vault: Vault, audit: AuditTrail, actor: str) -> RotationReport:
    if vault.keyring.newest in retired_versions(client):
        raise RotationRefused(f"the newest key version {vault.keyring.newest!r} was retired")
    store = GrantStore(client)
    rewrapped = already = changed = 0
    for key, wrapped in wrapped_keys(client):
        if KeyRing.version_of(wrapped) == vault.keyring.newest:
            already += 1
            continue
        new = vault.rewrap(wrapped, _context(client, key))
        if store.rewrap(key, wrapped, new):
            rewrapped += 1
        else:
            changed += 1
    audit.record(
        actor=actor,
        action="keys.rotate",
        detail={
            "version": vault.keyring.newest,
            "rewrapped": rewrapped,
            "already_newest": already,
            "changed_meanwhile": changed,
        },
    )
    return RotationReport(rewrapped, already, changed)


def retire(
    client: redis.Redis, keyring: KeyRing, version: str, audit: AuditTrail, actor: str
) -> None:
    if version == keyring.newest:
        raise RotationRefused(f"{version!r} is the newest key version: rotate to another first")
    if version not in keyring.versions:
        raise RotationRefused(f"{version!r} is not in the configured key ring")
    count = key_usage(client).get(version, 0)
    if count:
        raise KeyInUse(version, count)
    client.sadd(keys.RETIRED_KEY_VERSIONS, version)
    audit.record(actor=actor, action="keys.retire", detail={"version": version})

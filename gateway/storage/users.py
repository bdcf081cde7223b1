"""Users and their linked provider identities: only what sign-in needs.

A user is an opaque random id. An identity is keyed by (provider, subject) — for Microsoft
the subject is "tid:oid" — and never by e-mail, which providers let people change or do not
verify. Claiming an identity is one `SET NX`, so two concurrent first sign-ins of the same
person still end with one user.

Names, e-mail addresses and subjects are personal data: they are sealed under the user's own
data key (gateway.crypto.vault), so Redis holds none of them in plaintext and deleting the
wrapped key erases them all at once. How subjects name keys and fields (keyed, and the
older names moved) is in `user_names`.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis

from gateway.crypto.keyring import DecryptionFailed, KeyRetired
from gateway.crypto.secret_source import SecretSource
from gateway.crypto.vault import Vault, user_context
from gateway.storage import keys
from gateway.storage.readable import hgetall_text
from gateway.storage.user_names import SubjectNames, legacy_field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkedIdentity:
    provider: str
    subject: str
    email: str | None
    name: str | None
    linked_at: float


@dataclass(frozen=True)
class User:
    id: str
    name: str | None
    email: str | None
    created: float
    identities: tuple[LinkedIdentity, ...]


class IdentityTaken(Exception):
    """This provider identity already belongs to another user."""


class UserStore(SubjectNames):
    def __init__(self, client: redis.Redis, vault: Vault, secret_key: SecretSource) -> None:
        self.client = client
        self.vault = vault
        self._secret = secret_key

    def _sealed_identity(self, data_key: bytes, uid: str, identity: LinkedIdentity) -> str:
        return self.vault.seal_json(
            data_key, identity.__dict__, user_context(uid), f"identity|{identity.provider}"
        )

    def _sealed_profile(self, data_key: bytes, uid: str, shown: dict[str, str]) -> str:
        return self.vault.seal_json(data_key, shown, user_context(uid), "profile")

    def _read(self, uid: str) -> tuple[dict[str, str], dict[str, str]]:
        """The profile hash and the sealed identities; a field that is not UTF-8 is left
        out (it would not decrypt either)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.profile(uid))
        pipe.hgetall(keys.identities(uid))
        try:
            profile, linked = pipe.execute()  # one round trip for an intact record
        except UnicodeDecodeError:
            profile = hgetall_text(self.client, keys.profile(uid), "user profile")
            linked = hgetall_text(self.client, keys.identities(uid), "linked identity")
        return profile, linked

    def _unwrap(self, uid: str, profile: dict[str, str]) -> bytes | None:
        """The user's data key; None when it is missing or does not unwrap (altered, or
        moved from another user). A key-encryption key missing from the ring is a
        configuration problem, not damage: KeyRetired is raised, and nothing is rewritten."""
        wrapped = profile.get("dk")
        if wrapped is None:
            return None
        try:
            return self.vault.owner_key(wrapped, user_context(uid))
        except KeyRetired:
            raise
        except DecryptionFailed:
            return None

    def _open(self, data_key: bytes, uid: str, provider: str, sealed: str) -> LinkedIdentity:
        data = self.vault.open_json(data_key, sealed, user_context(uid), f"identity|{provider}")
        return LinkedIdentity(**data)

    def _opened(
        self, data_key: bytes, uid: str, linked: dict[str, str]
    ) -> tuple[dict[str, LinkedIdentity], list[str], dict[str, str]]:
        """The identities that open, by (keyed) field; the fields that do not; and the
        fields still named the legacy way, each with its keyed name."""
        opened: dict[str, LinkedIdentity] = {}
        broken: list[str] = []
        legacy: dict[str, str] = {}
        for field, sealed in linked.items():
            try:
                identity = self._open(data_key, uid, field.split("|", 1)[0], sealed)
            except (DecryptionFailed, ValueError, TypeError):
                broken.append(field)
                continue
            keyed = self._field(identity)
            if field == keyed:  # not another identity's record moved here
                opened[field] = identity
            elif field == legacy_field(identity):
                opened.setdefault(keyed, identity)
                legacy[field] = keyed
            else:
                broken.append(field)
        return opened, broken, legacy

    def create_with_identity(self, identity: LinkedIdentity, *, asked: bool = False) -> str:
        """Its owner, made now unless a sign-in won the race; `asked`: owner_of just said none."""
        existing = None if asked else self.owner_of(identity.provider, identity.subject)
        if existing:
            return existing
        uid = secrets.token_urlsafe(16)
        lookup = self._lookup(identity.provider, identity.subject)
        if not self.client.set(lookup, uid, nx=True):
            existing = self.owner_of(identity.provider, identity.subject)
            if existing:
                return existing
            raise IdentityTaken("identity changed hands during sign-in")
        data_key, wrapped = self.vault.new_owner_key(user_context(uid))
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            keys.profile(uid),
            mapping={
                "id": uid,
                "created": str(time.time()),
                "dk": wrapped,
                "sealed": self._sealed_profile(data_key, uid, _display(identity)),
            },
        )
        pipe.hset(
            keys.identities(uid),
            self._field(identity),
            self._sealed_identity(data_key, uid, identity),
        )
        pipe.sadd(keys.user_index(uid), lookup)
        pipe.execute()
        return uid

    def link(self, uid: str, identity: LinkedIdentity) -> None:
        """Attach another provider identity to a signed-in user (never matched by e-mail)."""
        owner = self.owner_of(identity.provider, identity.subject)  # moves a legacy name
        if owner is not None and owner != uid:
            raise IdentityTaken("this account is already linked to another user")
        lookup = self._lookup(identity.provider, identity.subject)
        if not self.client.set(lookup, uid, nx=True) and (
            self.owner_of(identity.provider, identity.subject) != uid
        ):
            raise IdentityTaken("this account is already linked to another user")
        self._write_identity(uid, identity, shown=False)

    def refresh_identity(self, uid: str, identity: LinkedIdentity) -> None:
        """Keep the display name and e-mail as the provider last reported them."""
        self._write_identity(uid, identity, shown=True)

    def _write_identity(self, uid: str, identity: LinkedIdentity, *, shown: bool) -> None:
        """Seal `identity` into the user's record, repairing what no longer opens.

        The caller reached `uid` through the identity's lookup key (sign-in) or the user's
        own session (linking), exactly as for an intact record. What does not open is
        never read and never kept: a data key that does not unwrap (or is gone) is replaced
        by a new one and every field sealed under the old one is dropped; an identity that
        does not open is dropped (its lookup stays, so it comes back when its owner next
        signs in with it); a profile that does not open is sealed again from `identity`.
        Grants, rooms and consents have keys of their own and are not touched."""
        profile, linked = self._read(uid)
        data_key = self._unwrap(uid, profile)
        field = self._field(identity)
        pipe = self.client.pipeline(transaction=True)
        if data_key is None:
            log.error("user profile unreadable, sealed again from this sign-in: user=%s", uid)
            data_key, wrapped = self.vault.new_owner_key(user_context(uid))
            pipe.delete(keys.profile(uid), keys.identities(uid))
            pipe.hset(
                keys.profile(uid),
                mapping={
                    "id": uid,
                    "created": _created(profile) or str(time.time()),
                    "dk": wrapped,
                },
            )
            opened: dict[str, LinkedIdentity] = {}
            shown = True
        else:
            opened, broken, legacy = self._opened(data_key, uid, linked)
            self._move_fields(pipe, uid, linked, legacy)
            if broken:
                log.error(
                    "linked identities unreadable, dropped: user=%s count=%d", uid, len(broken)
                )
                pipe.hdel(keys.identities(uid), *broken)
            if not shown and self._shown(data_key, uid, profile) is None:
                log.error("user profile unreadable, sealed again from this sign-in: user=%s", uid)
                shown = True
            if _created(profile) is None:
                pipe.hset(keys.profile(uid), "created", str(time.time()))
        previous = opened.get(field)
        if previous is not None:  # keep when it was first linked
            identity = LinkedIdentity(**{**identity.__dict__, "linked_at": previous.linked_at})
        pipe.hset(keys.identities(uid), field, self._sealed_identity(data_key, uid, identity))
        if shown:
            pipe.hset(
                keys.profile(uid),
                mapping={
                    "id": uid,
                    "sealed": self._sealed_profile(data_key, uid, _display(identity)),
                },
            )
        pipe.sadd(keys.user_index(uid), self._lookup(identity.provider, identity.subject))
        pipe.execute()

    def _shown(self, data_key: bytes, uid: str, profile: dict[str, str]) -> dict[str, Any] | None:
        """The sealed name and e-mail, or None when they do not open."""
        try:
            shown = self.vault.open_json(
                data_key, profile.get("sealed", ""), user_context(uid), "profile"
            )
        except (DecryptionFailed, ValueError):
            return None
        return shown if isinstance(shown, dict) else None

    def get(self, uid: str) -> User | None:
        """The user, or None when there is none or any part of the record does not open:
        a user whose profile cannot be read is unknown (signed out) until their next
        sign-in seals it again (see _write_identity). Nothing of it is shown meanwhile."""
        profile, linked = self._read(uid)
        if not profile or "dk" not in profile:
            return None
        try:
            data_key = self._unwrap(uid, profile)
        except KeyRetired:
            log.error(
                "user profile key wrapped by a key-encryption key not in the ring: user=%s", uid
            )
            return None
        created = _created(profile)
        opened, broken, legacy = self._opened(data_key, uid, linked) if data_key else ({}, [], {})
        if data_key is None or created is None or broken:
            log.error("user profile unreadable, treated as unknown: user=%s", uid)
            return None
        shown = self._shown(data_key, uid, profile)
        if shown is None:
            log.error("user profile unreadable, treated as unknown: user=%s", uid)
            return None
        if legacy:
            pipe = self.client.pipeline(transaction=True)
            self._move_fields(pipe, uid, linked, legacy)
            pipe.execute()
        return User(
            id=uid,
            name=shown.get("name") or None,
            email=shown.get("email") or None,
            created=float(created),
            identities=tuple(sorted(opened.values(), key=lambda i: i.linked_at)),
        )

    def ids(self) -> list[str]:
        """The id of every user with a profile (SCAN: the admin console's people list and
        host picker only; never a request path members take)."""
        found = {
            keys.owner_of_key(str(name))
            for name in self.client.scan_iter(match=keys.profile("*"), count=500)
        }
        return sorted(found)


def _created(profile: dict[str, str]) -> str | None:
    """The profile's creation time as stored, when it is a number."""
    value = profile.get("created")
    try:
        float(str(value))
    except ValueError:
        return None
    return value


def _display(identity: LinkedIdentity) -> dict[Any, Any]:
    shown: dict[Any, Any] = {}
    if identity.name:
        shown["name"] = identity.name
    if identity.email:
        shown["email"] = identity.email
    return shown

"""Users and their linked provider identities: only what sign-in needs.

A user is an opaque random id. An identity is keyed by (provider, subject) — for Microsoft
the subject is "tid:oid" — and never by e-mail, which providers let people change or do not
verify. Claiming an identity is one `SET NX`, so two concurrent first sign-ins of the same
person still end with one user.

Names, e-mail addresses and subjects are personal data: they are sealed under the user's own
data key (gateway.crypto.vault), so Redis holds none of them in plaintext and deleting the
wrapped key erases them all at once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis

from gateway.crypto.vault import Vault, user_context
from gateway.storage import keys


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


class UserStore:
    def __init__(self, client: redis.Redis, vault: Vault) -> None:
        self.client = client
        self.vault = vault

    def _data_key(self, uid: str) -> bytes:
        wrapped = _text(self.client.hget(keys.profile(uid), "dk"))
        if wrapped is None:
            raise LookupError("no such user")
        return self.vault.owner_key(wrapped, user_context(uid))

    def _sealed_identity(self, data_key: bytes, uid: str, identity: LinkedIdentity) -> str:
        return self.vault.seal_json(
            data_key, identity.__dict__, user_context(uid), f"identity|{identity.provider}"
        )

    def _sealed_profile(self, data_key: bytes, uid: str, shown: dict[str, str]) -> str:
        return self.vault.seal_json(data_key, shown, user_context(uid), "profile")

    def owner_of(self, provider: str, subject: str) -> str | None:
        return _text(self.client.get(keys.identity_lookup(provider, subject)))

    def create_with_identity(self, identity: LinkedIdentity) -> str:
        """The user owning `identity`, created now unless a concurrent sign-in won the race."""
        uid = secrets.token_urlsafe(16)
        lookup = keys.identity_lookup(identity.provider, identity.subject)
        if not self.client.set(lookup, uid, nx=True):
            existing = _text(self.client.get(lookup))
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
            keys.identities(uid), _field(identity), self._sealed_identity(data_key, uid, identity)
        )
        pipe.sadd(keys.user_index(uid), lookup)
        pipe.execute()
        return uid

    def link(self, uid: str, identity: LinkedIdentity) -> None:
        """Attach another provider identity to a signed-in user (never matched by e-mail)."""
        lookup = keys.identity_lookup(identity.provider, identity.subject)
        if not self.client.set(lookup, uid, nx=True) and self.client.get(lookup) != uid:
            raise IdentityTaken("this account is already linked to another user")
        sealed = self._sealed_identity(self._data_key(uid), uid, identity)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.identities(uid), _field(identity), sealed)
        pipe.sadd(keys.user_index(uid), lookup)
        pipe.execute()

    def refresh_identity(self, uid: str, identity: LinkedIdentity) -> None:
        """Keep the display name and e-mail as the provider last reported them."""
        data_key = self._data_key(uid)
        field = _field(identity)
        previous = _text(self.client.hget(keys.identities(uid), field))
        if previous is not None:  # keep when it was first linked
            linked_at = self._open(data_key, uid, identity.provider, previous).linked_at
            identity = LinkedIdentity(**{**identity.__dict__, "linked_at": linked_at})
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.identities(uid), field, self._sealed_identity(data_key, uid, identity))
        pipe.hset(
            keys.profile(uid), "sealed", self._sealed_profile(data_key, uid, _display(identity))
        )
        pipe.execute()

    def _open(self, data_key: bytes, uid: str, provider: str, sealed: str) -> LinkedIdentity:
        data = self.vault.open_json(data_key, sealed, user_context(uid), f"identity|{provider}")
        return LinkedIdentity(**data)

    def get(self, uid: str) -> User | None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.profile(uid))
        pipe.hgetall(keys.identities(uid))
        profile, linked = pipe.execute()
        if not profile or "dk" not in profile:
            return None
        data_key = self.vault.owner_key(profile["dk"], user_context(uid))
        shown = self.vault.open_json(data_key, profile["sealed"], user_context(uid), "profile")
        identities = tuple(
            sorted(
                (
                    self._open(data_key, uid, field.split("|", 1)[0], sealed)
                    for field, sealed in linked.items()
                ),
                key=lambda i: i.linked_at,
            )
        )
        return User(
            id=uid,
            name=shown.get("name") or None,
            email=shown.get("email") or None,
            created=float(profile.get("created", 0)),
            identities=identities,
        )


def _text(value: object) -> str | None:
    """Values as str: the client decodes responses, whatever redis-py's types say."""
    return None if value is None else str(value)


def _field(identity: LinkedIdentity) -> str:
    return f"{identity.provider}|{keys.digest(identity.subject)}"


def _display(identity: LinkedIdentity) -> dict[Any, Any]:
    shown: dict[Any, Any] = {}
    if identity.name:
        shown["name"] = identity.name
    if identity.email:
        shown["email"] = identity.email
    return shown

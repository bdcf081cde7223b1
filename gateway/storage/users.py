"""Users and their linked provider identities: only what sign-in needs.

A user is an opaque random id. An identity is keyed by (provider, subject) — for Microsoft
the subject is "tid:oid" — and never by e-mail, which providers let people change or do not
verify. Claiming an identity is one `SET NX`, so two concurrent first sign-ins of the same
person still end with one user.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis

from gateway.storage import keys


@dataclass(frozen=True)
class LinkedIdentity:
    provider: str
    subject: str
    email: str | None
    name: str | None
    linked_at: float

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


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
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

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
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            keys.profile(uid),
            mapping={"id": uid, "created": str(time.time()), **_display(identity)},
        )
        pipe.hset(keys.identities(uid), _field(identity), identity.to_json())
        pipe.sadd(keys.user_index(uid), lookup)
        pipe.execute()
        return uid

    def link(self, uid: str, identity: LinkedIdentity) -> None:
        """Attach another provider identity to a signed-in user (never matched by e-mail)."""
        lookup = keys.identity_lookup(identity.provider, identity.subject)
        if not self.client.set(lookup, uid, nx=True) and self.client.get(lookup) != uid:
            raise IdentityTaken("this account is already linked to another user")
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.identities(uid), _field(identity), identity.to_json())
        pipe.sadd(keys.user_index(uid), lookup)
        pipe.execute()

    def refresh_identity(self, uid: str, identity: LinkedIdentity) -> None:
        """Keep the display name and e-mail as the provider last reported them."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.identities(uid), _field(identity), identity.to_json())
        pipe.hset(keys.profile(uid), mapping=_display(identity))
        pipe.execute()

    def get(self, uid: str) -> User | None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.profile(uid))
        pipe.hgetall(keys.identities(uid))
        profile, linked = pipe.execute()
        if not profile:
            return None
        identities = tuple(
            sorted((_identity(v) for v in linked.values()), key=lambda i: i.linked_at)
        )
        return User(
            id=uid,
            name=profile.get("name") or None,
            email=profile.get("email") or None,
            created=float(profile.get("created", 0)),
            identities=identities,
        )


def _text(value: object) -> str | None:
    """Values as str: the client decodes responses, whatever redis-py's types say."""
    return None if value is None else str(value)


def _field(identity: LinkedIdentity) -> str:
    return f"{identity.provider}|{identity.subject}"


def _display(identity: LinkedIdentity) -> dict[Any, Any]:
    shown: dict[Any, Any] = {}
    if identity.name:
        shown["name"] = identity.name
    if identity.email:
        shown["email"] = identity.email
    return shown


def _identity(raw: str) -> LinkedIdentity:
    data: dict[str, Any] = json.loads(raw)
    return LinkedIdentity(**data)

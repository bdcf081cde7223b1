"""How a user's provider subjects name keys and fields in Redis, and moving older names.

Where a subject names a key or a field, it is as an HMAC under a key from GATEWAY_SECRET_KEY
(keys.subject_digest), so a Redis reader cannot test a subject they know. Lookups and fields
named the older way (plain SHA-256) are moved to their keyed names when they are next read,
or by one pass over every user (`move_legacy_names`); nothing writes the old names any more.
Kept apart from `users`, which seals and reads the records these names point at.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import redis
from redis.cluster import RedisCluster

from gateway.crypto.secret_source import SecretSource, reveal
from gateway.storage import keys
from gateway.storage.readable import get_many_text, get_text

if TYPE_CHECKING:
    from gateway.storage.users import LinkedIdentity, User

log = logging.getLogger("gateway.storage.users")  # the same logger as before the split


class SubjectNames:
    """The naming half of `UserStore` (a mixin over its Redis client and secret key)."""

    client: redis.Redis
    _secret: SecretSource
    get: Callable[[str], User | None]

    @cached_property
    def _subject_key(self) -> bytes:
        return keys.subject_key(reveal(self._secret))

    def _lookup(self, provider: str, subject: str) -> str:
        return keys.identity_lookup(provider, keys.subject_digest(self._subject_key, subject))

    def _field(self, identity: LinkedIdentity) -> str:
        digest = keys.subject_digest(self._subject_key, identity.subject)
        return f"{identity.provider}|{digest}"

    def _move_fields(
        self, pipe: Any, uid: str, linked: dict[str, str], legacy: dict[str, str]
    ) -> None:
        """Queue the rename of legacy identity fields (one hash: atomic in the MULTI)."""
        name = keys.identities(uid)
        for old, keyed in legacy.items():
            if keyed not in linked:
                pipe.hset(name, keyed, linked[old])
            pipe.hdel(name, old)

    def owner_of(self, provider: str, subject: str) -> str | None:
        """The user this identity signs in as, or None; a legacy lookup is moved on the way.

        Both names are read in one MGET (issue 17: a new person's sign-in paid three GETs).
        On one server MGET reads them at one instant, and a mover writes the keyed name
        before it deletes the legacy one, so "neither" is the truth. A Cluster may read them
        on two nodes at different instants: there "neither" is asked once more, of the
        keyed name, as `_move_lookup` does after a legacy name it found gone."""
        lookup = self._lookup(provider, subject)
        legacy = keys.identity_lookup(provider, keys.digest(subject))
        found, old = get_many_text(self.client, [lookup, legacy], "identity lookup")
        if found is not None:
            return found
        if old is not None:
            return self._move_lookup(provider, subject, lookup)
        if isinstance(self.client, RedisCluster):
            return get_text(self.client, lookup, "identity lookup")
        return None

    def _move_lookup(self, provider: str, subject: str, lookup: str) -> str | None:
        """The owner named by a legacy lookup (plain SHA-256 of the subject), moved now to
        its keyed name; None when there is none.

        Safe with several processes: the keyed name is claimed with SET NX (two movers
        write the same uid), the user's index lists it before the old name goes, and the
        old name is never written again. The two names are in different Cluster slots, so
        this is not one transaction; a user erased meanwhile (no profile left) gets no
        keyed name."""
        legacy = keys.identity_lookup(provider, keys.digest(subject))
        uid = get_text(self.client, legacy, "identity lookup")
        if uid is None:
            # another process may have moved it since our first read: it writes the keyed
            # name before it deletes the legacy one, so the keyed name is there now
            return get_text(self.client, lookup, "identity lookup")
        if not self.client.set(lookup, uid, nx=True):
            current = get_text(self.client, lookup, "identity lookup")
            if current != uid:  # claimed by another user meanwhile: that claim stands
                return current
        index = keys.user_index(uid)
        self.client.sadd(index, lookup)
        self.client.delete(legacy)
        self.client.srem(index, legacy)
        if not self.client.exists(keys.profile(uid)):
            self.client.delete(lookup)
            self.client.srem(index, lookup)
            return None
        log.info("identity lookup moved to its keyed name: user=%s", uid)
        return uid

    def move_legacy_names(self) -> int:
        """One pass over every user, moving the legacy names of their subjects (lookups,
        identity fields) to the keyed ones, so people who do not sign in again are not left
        under a name a Redis reader could test. The subjects come from the sealed
        identities. Idempotent and safe while serving; returns how many lookups moved."""
        moved = 0
        for name in self.client.scan_iter(match=keys.profile("*"), count=500):
            uid = keys.owner_of_key(str(name))
            user = self.get(uid)  # moves identity fields named the legacy way
            for identity in user.identities if user else ():
                legacy = keys.identity_lookup(identity.provider, keys.digest(identity.subject))
                if self.client.exists(legacy):
                    lookup = self._lookup(identity.provider, identity.subject)
                    moved += self._move_lookup(identity.provider, identity.subject, lookup) == uid
        return moved


def legacy_field(identity: LinkedIdentity) -> str:
    """The field name of an identity before names were keyed: moved when next read."""
    return f"{identity.provider}|{keys.digest(identity.subject)}"

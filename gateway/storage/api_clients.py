"""API clients (the booking frontend and other services): credentials stored as hashes only.

    gw:{clients}:<id>   hash  id, name, secret_hash, audiences (space-separated group names
                              a room's `visibility` may list), rooms (explicit room ids),
                              rate_limit, disabled, created
    gw:{clients}        set   client ids

All clients share one hash tag, so creating or deleting one (record and list together) is
one transaction on a Redis Cluster too; they are few, so one slot holds them easily.

A client secret is `gwc_<id>.<random>`, shown once at creation. What is stored is an HMAC of
it under the gateway's secret key, so a copy of Redis alone cannot be turned into a working
credential, and the comparison is constant-time. A worker remembers a verified credential
(the hot path) for AUTH_CACHE_SECONDS at most, and only while the answers' generation is the
one it was verified under (storage/answers.py: a lease read at most once per 50 ms per
worker, no round trip per request). Disabling or deleting a client bumps that generation
after its write and waits out the lease before it answers, so from then on no worker
accepts the client's secret (it took up to AUTH_CACHE_SECONDS in other workers before).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import redis

from gateway.crypto.secret_source import SecretSource, reveal
from gateway.storage import answers
from gateway.storage.keys import PREFIX
from gateway.storage.readable import hgetall_text, unreadable
from gateway.storage.webhook_endpoints import WEBHOOKS, endpoint_keys

AUTH_CACHE_SECONDS = 5.0
SECRET_PREFIX = "gwc_"  # noqa: S105 - a prefix, not a secret


def client_key(client_id: str) -> str:
    return f"{PREFIX}:{{clients}}:{client_id}"


CLIENTS = f"{PREFIX}:{{clients}}"


@dataclass(frozen=True)
class ApiClient:
    id: str
    name: str
    audiences: frozenset[str]
    rooms: frozenset[str]
    rate_limit: str
    disabled: bool
    created: float


class ApiClientStore:
    def __init__(self, client: redis.Redis, pepper: SecretSource) -> None:
        self.client = client
        self._pepper_source = pepper
        # HMAC of secret -> (until, generation verified under, client)
        self._verified: dict[str, tuple[float, str, ApiClient]] = {}
        self._generation = answers.shared_lease(client)

    def _hash(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    @cached_property
    def _pepper(self) -> bytes:
        return reveal(self._pepper_source).encode()

    def create(
        self,
        name: str,
        audiences: set[str],
        rooms: set[str],
        rate_limit: str,
        client_id: str | None = None,
    ) -> tuple[ApiClient, str]:
        """A new client and its secret; its id is random unless given (seeded test data
        whose documented examples name it: tests/fuzz/conftest.py)."""
        client_id = client_id or secrets.token_hex(6)
        secret = f"{SECRET_PREFIX}{client_id}.{secrets.token_urlsafe(32)}"
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            client_key(client_id),
            mapping={
                "id": client_id,
                "name": name,
                "secret_hash": self._hash(secret),
                "audiences": " ".join(sorted(audiences)),
                "rooms": " ".join(sorted(rooms)),
                "rate_limit": rate_limit,
                "disabled": "0",
                "created": str(now),
            },
        )
        pipe.sadd(CLIENTS, client_id)
        pipe.execute()
        found = self.get(client_id)
        assert found is not None
        return found, secret

    def get(self, client_id: str) -> ApiClient | None:
        """The client, or None; a record with a field that is not what we wrote is None too
        (a client whose audiences, rooms or limit cannot be read is never served)."""
        key = client_key(client_id)
        raw = hgetall_text(self.client, key, "API client", whole=True)
        if not raw:
            return None
        try:
            if raw["id"] != client_id:
                raise ValueError("the record is another client's")
            return ApiClient(
                id=raw["id"],
                name=raw.get("name", ""),
                audiences=frozenset(raw.get("audiences", "").split()),
                rooms=frozenset(raw.get("rooms", "").split()),
                rate_limit=raw.get("rate_limit", ""),
                disabled=raw.get("disabled") == "1",
                created=float(raw.get("created", 0)),
            )
        except (ValueError, KeyError):
            unreadable("API client")
            return None

    def authenticate(self, secret: str) -> ApiClient | None:
        """The client a presented secret belongs to, or None (unknown, wrong, disabled)."""
        if not secret.startswith(SECRET_PREFIX) or "." not in secret or len(secret) > 200:
            return None
        presented = self._hash(secret)
        generation = self._generation.current()  # before the read: see answers.py
        remembered = self._verified.get(presented)
        if remembered and remembered[0] > time.monotonic() and remembered[1] == generation:
            return remembered[2]
        client_id = secret[len(SECRET_PREFIX) :].split(".", 1)[0]
        try:
            stored = self.client.hget(client_key(client_id), "secret_hash")
        except UnicodeDecodeError:
            unreadable("API client")
            return None
        if stored is None or not hmac.compare_digest(str(stored), presented):
            return None
        found = self.get(client_id)
        if found is None or found.disabled:
            return None
        if len(self._verified) > 1000:
            self._verified.clear()
        self._verified[presented] = (time.monotonic() + AUTH_CACHE_SECONDS, generation, found)
        return found

    def all(self) -> list[ApiClient]:
        ids = sorted(str(i) for i in cast(set[str], self.client.smembers(CLIENTS)))
        return [c for c in (self.get(i) for i in ids) if c]

    def set_disabled(self, client_id: str, disabled: bool) -> bool:
        self._verified.clear()
        if not self.client.exists(client_key(client_id)):
            return False
        self.client.hset(client_key(client_id), "disabled", "1" if disabled else "0")
        answers.bump(self.client)  # other workers' verified secrets end (module docstring)
        return True

    def delete(self, client_id: str) -> bool:
        """The client, its webhook endpoint and delivery log (storage/webhook_endpoints.py)."""
        self._verified.clear()
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(client_key(client_id))
        pipe.srem(CLIENTS, client_id)
        pipe.delete(*endpoint_keys(client_id))
        pipe.srem(WEBHOOKS, client_id)
        deleted = bool(pipe.execute()[0])
        answers.bump(self.client)  # other workers' verified secrets end (module docstring)
        return deleted

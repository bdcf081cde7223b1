"""API clients' webhook endpoints (the change feed) and the log of what was sent to them.

    gw:{clients}:<id>:webhook     hash  url, dk (a data key wrapped by the key ring),
                                        secret (the signing secret sealed under dk), created
    gw:{clients}:webhooks         set   ids of clients with an endpoint
    gw:{clients}:<id>:deliveries  hash  event id -> JSON {type, room, at, status, attempts}
    gw:{clients}:<id>:sent        list  event ids, newest first, at most LOG_LENGTH

The signing secret must be read back to sign every event, so unlike a client secret it
cannot be stored as a hash: it is sealed like a grant's tokens, under its own data key whose
context names the client, so a copy of Redis alone does not reveal it and a sealed secret
moved to another client does not open. The log holds no payload beyond the room id.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast

import redis

from gateway.crypto.keyring import DecryptionFailed
from gateway.crypto.vault import Vault
from gateway.storage.keys import PREFIX
from gateway.storage.readable import hgetall_text, unreadable

LOG_LENGTH = 50
WEBHOOKS = f"{PREFIX}:{{clients}}:webhooks"


def _key(client_id: str, what: str) -> str:
    return f"{PREFIX}:{{clients}}:{client_id}:{what}"


def endpoint_keys(client_id: str) -> list[str]:
    """Every key of a client's endpoint and log (deleted with the client)."""
    return [_key(client_id, "webhook"), _key(client_id, "deliveries"), _key(client_id, "sent")]


def _context(client_id: str) -> str:
    return f"webhook:{client_id}"


@dataclass(frozen=True)
class WebhookEndpoint:
    client_id: str
    url: str
    secret: str  # whsec_<base64>, for signing only; never shown after registration
    created: float


class WebhookEndpointStore:
    def __init__(self, client: redis.Redis, vault: Vault) -> None:
        self.client = client
        self.vault = vault

    def put(self, client_id: str, url: str, secret: str) -> None:
        """Register (or replace) the endpoint of a client; its log starts afresh."""
        data_key, wrapped = self.vault.new_owner_key(_context(client_id))
        sealed = self.vault.seal_json(data_key, secret, _context(client_id), "secret")
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(*endpoint_keys(client_id))
        pipe.hset(
            _key(client_id, "webhook"),
            mapping={"url": url, "dk": wrapped, "secret": sealed, "created": str(time.time())},
        )
        pipe.sadd(WEBHOOKS, client_id)
        pipe.execute()

    def get(self, client_id: str) -> WebhookEndpoint | None:
        raw = hgetall_text(self.client, _key(client_id, "webhook"), "webhook", whole=True)
        if not raw:
            return None
        try:
            data_key = self.vault.owner_key(raw["dk"], _context(client_id))
            secret = self.vault.open_json(data_key, raw["secret"], _context(client_id), "secret")
            return WebhookEndpoint(client_id, raw["url"], str(secret), float(raw["created"]))
        except (KeyError, ValueError, DecryptionFailed):
            unreadable("webhook")
            return None

    def delete(self, client_id: str) -> bool:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(*endpoint_keys(client_id))
        pipe.srem(WEBHOOKS, client_id)
        return bool(pipe.execute()[0])

    def client_ids(self) -> list[str]:
        return sorted(str(i) for i in cast(set[str], self.client.smembers(WEBHOOKS)))

    def log(self, client_id: str, event_id: str, entry: dict[str, Any]) -> None:
        """Record (or update) one delivery; the oldest beyond LOG_LENGTH are dropped."""
        deliveries, sent = _key(client_id, "deliveries"), _key(client_id, "sent")
        if not self.client.exists(_key(client_id, "webhook")):
            return  # the endpoint went meanwhile: nothing to log it under
        added = self.client.hset(deliveries, event_id, json.dumps(entry))
        if not added:
            return
        self.client.lpush(sent, event_id)
        dropped = [str(i) for i in cast(list[str], self.client.lrange(sent, LOG_LENGTH, -1))]
        if dropped:
            pipe = self.client.pipeline(transaction=True)
            pipe.hdel(deliveries, *dropped)
            pipe.ltrim(sent, 0, LOG_LENGTH - 1)
            pipe.execute()

    def deliveries(self, client_id: str) -> list[dict[str, Any]]:
        """The logged deliveries, newest first, each with its event id."""
        ids = [str(i) for i in cast(list[str], self.client.lrange(_key(client_id, "sent"), 0, -1))]
        if not ids:
            return []
        found = cast(list[str | None], self.client.hmget(_key(client_id, "deliveries"), ids))
        entries = []
        for event_id, text in zip(ids, found, strict=True):
            if text is None:
                continue
            try:
                entries.append({"id": event_id, **json.loads(text)})
            except (ValueError, TypeError):
                unreadable("webhook delivery")
        return entries

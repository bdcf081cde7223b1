"""Consent records: an append-only history per user, and the consents currently in force.

    gw:{u:UID}:consent-events   list  one compact JSON array per event, newest first: time,
                                      purpose, provider, action (given, refused, withdrawn),
                                      text version and digest, scopes requested and granted,
                                      grant id (storage/consent_events.py) — opaque ids only
    gw:consent-texts            hash  "<purpose>|<version>" -> the consent text's digest
                                      (kept once for every event of that text)
    gw:{u:UID}:consent          hash  "<purpose>|<provider>" -> JSON [version, grant, given]
                                      ({version, grant, given} before issue 17: still read)

The history is never edited: withdrawing appends an event, it does not remove the one it
ends. Before issue 17 it was a stream (`gw:{u:UID}:consent-log`, a field per datum): a
Redis stream costs ~1.2 KB for its first entry (its node is preallocated), a list a third
of that, and one person's history holds a handful of events. A stream written then is still
read, before the list, and deleted with it; nothing writes to it again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import redis

from gateway.storage import keys
from gateway.storage.consent_events import (
    TEXTS,
    ConsentEvent,
    decoded,
    encoded,
    text_field,
    text_fields,
)
from gateway.storage.readable import hgetall_text, unreadable

GIVEN = "given"
REFUSED = "refused"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ConsentInForce:
    purpose: str
    provider: str
    version: str
    grant: str
    given: float


class ConsentStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    # -- retention --------------------------------------------------------------------------
    def unattached_logs(self) -> Iterator[tuple[str, float | None]]:
        """(uid, time of the newest event or None) of every consent history whose owner
        holds no consent in force and no grant: the ones retention may end (SCAN)."""
        owners = set()
        for suffix in ("consent-events", "consent-log"):
            pattern = f"{keys.PREFIX}:{{u:*}}:{suffix}"
            owners |= {keys.owner_of_key(str(k)) for k in self.client.scan_iter(pattern, 500)}
        for uid in sorted(owners):
            if self.client.hlen(keys.consents(uid)) or self.client.scard(keys.grants(uid)):
                continue
            events = self.history(uid)
            yield uid, events[-1].at if events and events[-1].at else None  # None: not old

    def delete_log(self, uid: str) -> None:
        self.client.delete(keys.consent_log(uid), keys.consent_log_stream(uid))

    def record(
        self,
        uid: str,
        *,
        purpose: str,
        provider: str,
        action: str,
        version: str,
        digest: str,
        requested: tuple[str, ...] = (),
        granted: tuple[str, ...] = (),
        grant: str = "",
    ) -> None:
        now = time.time()
        kept = self._kept_digest(purpose, version, digest)
        event = encoded(now, purpose, provider, action, version, kept, requested, granted, grant)
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(keys.consent_log(uid), event)  # newest first: the ACL has no RPUSH
        field = f"{purpose}|{provider}"
        if action == GIVEN:
            state = [version, grant, round(now, 3)]  # {version, grant, given} before issue 17
            pipe.hset(keys.consents(uid), field, _compact(state))
        elif action == WITHDRAWN:
            pipe.hdel(keys.consents(uid), field)
        pipe.execute()

    def history(self, uid: str) -> list[ConsentEvent]:
        """Every event, oldest first: a stream written before issue 17, then the list."""
        return self._streamed(uid) + self._listed(uid)

    def _listed(self, uid: str) -> list[ConsentEvent]:
        try:
            newest_first = cast(list[str], self.client.lrange(keys.consent_log(uid), 0, -1))
            raws = newest_first[::-1]
        except UnicodeDecodeError:
            unreadable("consent history")
            return []
        needed = sorted(text_fields(raws))
        texts = dict(zip(needed, self.client.hmget(TEXTS, needed), strict=True)) if needed else {}
        events = []
        for n, raw in enumerate(raws):
            try:
                events.append(decoded(n, raw, {k: str(v) for k, v in texts.items() if v}))
            except (ValueError, TypeError):
                unreadable("consent history")
        return events

    def _kept_digest(self, purpose: str, version: str, digest: str) -> str | int:
        """KEPT_DIGEST when TEXTS holds this digest for the text (kept there now if it held
        none), else the digest itself. Its own command: TEXTS is in another Cluster slot."""
        if not digest:
            return digest
        field = text_field(purpose, version)
        self.client.hsetnx(TEXTS, field, digest)
        return 0 if self.client.hget(TEXTS, field) == digest else digest

    def _streamed(self, uid: str) -> list[ConsentEvent]:
        try:
            entries = cast(
                list[tuple[str, dict[str, str]]], self.client.xrange(keys.consent_log_stream(uid))
            )
        except UnicodeDecodeError:
            unreadable("consent history")
            return []
        except redis.ResponseError:  # not a stream: not ours
            unreadable("consent history")
            return []
        events = []
        for entry_id, fields in entries:
            events.append(
                ConsentEvent(
                    id=str(entry_id),
                    purpose=fields.get("purpose", ""),
                    provider=fields.get("provider", ""),
                    action=fields.get("action", ""),
                    version=fields.get("version", ""),
                    digest=fields.get("digest", ""),
                    requested=tuple(fields.get("requested", "").split()),
                    granted=tuple(fields.get("granted", "").split()),
                    grant=fields.get("grant", ""),
                    at=_number(fields.get("at")),
                )
            )
        return events

    def in_force(self, uid: str) -> list[ConsentInForce]:
        """Consents in force; a record that is not what we wrote is not in force."""
        found = []
        for field, raw in hgetall_text(self.client, keys.consents(uid), "consent").items():
            purpose, _, provider = str(field).partition("|")
            try:
                state = json.loads(raw)
                if isinstance(state, dict):  # written before issue 17
                    state = [state["version"], state.get("grant", ""), state["given"]]
                version, grant, given = state
                consent = ConsentInForce(
                    purpose=purpose,
                    provider=provider,
                    version=str(version),
                    grant=str(grant),
                    given=float(given),
                )
            except (ValueError, KeyError, TypeError):
                unreadable("consent")
                continue
            found.append(consent)
        return sorted(found, key=lambda c: c.given)


def _compact(value: object) -> str:
    """JSON without whitespace: what is kept per person in Redis (issue 17)."""
    return json.dumps(value, separators=(",", ":"))


def _number(value: object) -> float:
    try:
        return float(str(value or 0))
    except ValueError:
        return 0.0

"""Consent records: an append-only history per user, and the consents currently in force.

    gw:{u:UID}:consent-log   stream  one entry per event: purpose, provider, action (given,
                                     refused, withdrawn), text version and digest, scopes
                                     requested and granted, grant id — opaque ids only
    gw:{u:UID}:consent       hash    "<purpose>|<provider>" -> JSON {version, grant, given}

The stream is never edited: withdrawing adds an entry, it does not remove the one it ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import redis

from gateway.storage import keys
from gateway.storage.readable import hgetall_text, unreadable

GIVEN = "given"
REFUSED = "refused"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ConsentEvent:
    id: str
    purpose: str
    provider: str
    action: str
    version: str
    digest: str
    requested: tuple[str, ...]
    granted: tuple[str, ...]
    grant: str
    at: float


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
        for key in self.client.scan_iter(match=f"{keys.PREFIX}:{{u:*}}:consent-log", count=500):
            name = str(key)
            uid = keys.owner_of_key(name)
            if self.client.hlen(keys.consents(uid)) or self.client.scard(keys.grants(uid)):
                continue
            newest = cast(list[tuple[str, dict[str, str]]], self.client.xrevrange(name, count=1))
            at = newest[0][1].get("at") if newest else None
            yield uid, float(at) if at is not None else None  # None: nothing says it is old

    def delete_log(self, uid: str) -> None:
        self.client.delete(keys.consent_log(uid))

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
        fields = {
            "purpose": purpose,
            "provider": provider,
            "action": action,
            "version": version,
            "digest": digest,
            "requested": " ".join(requested),
            "granted": " ".join(granted),
            "grant": grant,
            "at": str(time.time()),
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(keys.consent_log(uid), fields)  # type: ignore[arg-type]
        field = f"{purpose}|{provider}"
        if action == GIVEN:
            state = {"version": version, "grant": grant, "given": float(fields["at"])}
            pipe.hset(keys.consents(uid), field, json.dumps(state))
        elif action == WITHDRAWN:
            pipe.hdel(keys.consents(uid), field)
        pipe.execute()

    def history(self, uid: str) -> list[ConsentEvent]:
        events = []
        try:
            entries = cast(
                list[tuple[str, dict[str, str]]], self.client.xrange(keys.consent_log(uid))
            )
        except UnicodeDecodeError:
            unreadable("consent history")
            return []
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
                consent = ConsentInForce(
                    purpose=purpose,
                    provider=provider,
                    version=str(state["version"]),
                    grant=str(state.get("grant", "")),
                    given=float(state["given"]),
                )
            except (ValueError, KeyError, TypeError):
                unreadable("consent")
                continue
            found.append(consent)
        return sorted(found, key=lambda c: c.given)


def _number(value: object) -> float:
    try:
        return float(str(value or 0))
    except ValueError:
        return 0.0

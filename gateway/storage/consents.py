"""Consent records: an append-only history per user, and the consents currently in force.

    gw:{u:UID}:consent-history  list  one compact JSON array per event: [at (ms), purpose,
                                      provider, action (given, refused, withdrawn), text
                                      version, text digest, scopes requested, scopes granted
                                      (one also requested as "#<its place>"), grant id] —
                                      opaque ids only; scope lists front-coded
                                      (storage/scope_lists.py)
    gw:{u:UID}:consent          hash  "<purpose>|<provider>" -> JSON {version, grant, given}

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
from gateway.storage.readable import hgetall_text, unreadable
from gateway.storage.scope_lists import packed, unpacked

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
        owners = set()
        for suffix in ("consent-history", "consent-log"):
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
        event = [
            round(now * 1000),
            purpose,
            provider,
            action,
            version,
            digest,
            packed(requested),
            _granted(requested, granted),
            grant,
        ]
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(keys.consent_log(uid), _compact(event))
        field = f"{purpose}|{provider}"
        if action == GIVEN:
            state = {"version": version, "grant": grant, "given": round(now, 3)}
            pipe.hset(keys.consents(uid), field, _compact(state))
        elif action == WITHDRAWN:
            pipe.hdel(keys.consents(uid), field)
        pipe.execute()

    def history(self, uid: str) -> list[ConsentEvent]:
        """Every event, oldest first: a stream written before issue 17, then the list."""
        return self._streamed(uid) + self._listed(uid)

    def _listed(self, uid: str) -> list[ConsentEvent]:
        try:
            raws = cast(list[str], self.client.lrange(keys.consent_log(uid), 0, -1))
        except UnicodeDecodeError:
            unreadable("consent history")
            return []
        events = []
        for n, raw in enumerate(raws):
            try:
                at, purpose, provider, action, version, digest, asked, got, grant = json.loads(raw)
                events.append(
                    ConsentEvent(
                        id=str(n),
                        purpose=str(purpose),
                        provider=str(provider),
                        action=str(action),
                        version=str(version),
                        digest=str(digest),
                        requested=tuple(unpacked(str(asked))),
                        granted=_expanded(unpacked(str(asked)), unpacked(str(got))),
                        grant=str(grant),
                        at=float(at) / 1000,
                    )
                )
            except (ValueError, TypeError):
                unreadable("consent history")
        return events

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


def _granted(requested: tuple[str, ...], granted: tuple[str, ...]) -> str:
    """The granted scopes, each one also requested written as "#<its place in requested>"
    (a provider grants what was asked and a few sign-in scopes: a long scope URL is
    written once); any other starting with "#" gets one more "#" in front."""
    places = {scope: n for n, scope in reversed(list(enumerate(requested)))}
    return packed(
        f"#{places[s]}" if s in places else f"#{s}" if s.startswith("#") else s for s in granted
    )


def _expanded(requested: list[str], granted: list[str]) -> tuple[str, ...]:
    found = []
    for scope in granted:
        place = scope[1:]
        if scope.startswith("##"):
            found.append(place)
        elif scope.startswith("#") and place.isdigit() and int(place) < len(requested):
            found.append(requested[int(place)])
        else:  # a scope that was not requested
            found.append(scope)
    return tuple(found)


def _compact(value: object) -> str:
    """JSON without whitespace: what is kept per person in Redis (issue 17)."""
    return json.dumps(value, separators=(",", ":"))


def _number(value: object) -> float:
    try:
        return float(str(value or 0))
    except ValueError:
        return 0.0

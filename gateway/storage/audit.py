"""The audit trail: an append-only Redis stream of who did what to whose data.

    gw:audit    stream  one field, "r": a compact JSON array [actor, action, subject,
                        purpose, result, detail (an object of counts and codes)]; its time is
                        the entry id's (milliseconds); trimmed by age (the catalogue's
                        `audit-event` retention)

Compact because every consent and change of personal data adds one (issue 17: Redis bytes
per grant): one field instead of seven leaves each stream node one field name, the time is
not written twice, and a subject who is the actor (someone acting on their own data, most
records) is written "=". Entries written before that (a field per datum, `at` among them)
are still read; `entries` expands both to the same AuditEntry.

One record for every access to or change of personal data by anyone other than its owner,
and for every security-relevant change. The actions it may hold are the catalogue's
`audit_events` (listed in the processing register); `record` refuses any other, so the
register cannot fall behind the code.

Actors and subjects are keyed pseudonyms: HMAC-SHA256 of the opaque user id (or
"client:<id>") under a key derived from the gateway's secret, so the trail never holds a
user id, e-mail, name or token. The named non-persons "system", "provider", "cli" and
"operator" stay as they are. An erasure keeps the person's records (GDPR Art. 5(2)
accountability: what was done with their data, and that it was erased, stays provable); it
erases the id the pseudonym was computed from, and its receipt names the pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import redis

from gateway.crypto.secret_source import SecretSource, reveal
from gateway.storage.keys import PREFIX

AUDIT = f"{PREFIX}:audit"
MAX_ENTRIES = 1_000_000  # an upper bound on top of the age-based trim
NAMED_ACTORS = frozenset({"", "system", "provider", "cli", "operator"})  # not persons
FIELD = "r"  # an entry's one field: the JSON array of its record
SELF = "="  # the subject of a record is its actor (never a pseudonym or a named actor)


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: float
    actor: str
    action: str
    subject: str
    purpose: str
    result: str
    detail: dict[str, Any]


class UnknownAuditAction(ValueError):
    """An action the catalogue does not list: the register would not mention it."""


class AuditTrail:
    def __init__(
        self, client: redis.Redis, secret_key: SecretSource, actions: Iterable[str]
    ) -> None:
        self.client = client
        self.actions = frozenset(actions)
        self._secret = secret_key

    @cached_property
    def _key(self) -> bytes:
        secret = reveal(self._secret).encode()
        return hashlib.sha256(b"gateway audit pseudonyms|" + secret).digest()

    def pseudonym(self, who: str) -> str:
        """A stable pseudonym for a user id (or an actor name), never reversible here."""
        if who in NAMED_ACTORS:
            return who
        return "p:" + hmac.new(self._key, who.encode(), hashlib.sha256).hexdigest()[:32]

    def record(
        self,
        *,
        actor: str,
        action: str,
        subject: str = "",
        purpose: str = "",
        result: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> str:
        """Append one record; `detail` holds counts and codes only, never an id or a name."""
        if action not in self.actions:
            raise UnknownAuditAction(f"{action!r} is not an audit event of the catalogue")
        who, about = self.pseudonym(actor), self.pseudonym(subject)
        record = [who, action, SELF if about == who and who else about, purpose, result]
        body = json.dumps([*record, detail or {}], sort_keys=True, separators=(",", ":"))
        entry = self.client.xadd(AUDIT, {FIELD: body}, maxlen=MAX_ENTRIES, approximate=True)
        return str(entry)

    def entries(
        self,
        *,
        subject: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 200,
    ) -> list[AuditEntry]:
        """Newest first, filtered (subject and actor are user ids, pseudonymised here)."""
        wanted_subject = self.pseudonym(subject) if subject else None
        wanted_actor = self.pseudonym(actor) if actor else None
        found: list[AuditEntry] = []
        last = "+"
        while len(found) < limit:
            batch = cast(
                list[tuple[str, dict[str, str]]],
                self.client.xrevrange(AUDIT, max=last, min="-", count=500),
            )
            if not batch:
                break
            for entry_id, fields in batch:
                if entry_id == last:
                    continue
                item = _entry(entry_id, fields)
                if wanted_subject and item.subject != wanted_subject:
                    continue
                if wanted_actor and item.actor != wanted_actor:
                    continue
                if action and item.action != action:
                    continue
                found.append(item)
                if len(found) >= limit:
                    break
            last = batch[-1][0]
            if len(batch) < 500:
                break
        return found

    def count_about(self, uid: str) -> int:
        """How many records name this user as actor or subject (an erasure keeps them)."""
        name = self.pseudonym(uid)
        entries = cast(list[tuple[str, dict[str, str]]], self.client.xrange(AUDIT))
        return sum(name in (e.actor, e.subject) for e in (_entry(i, f) for i, f in entries))

    def trim(self, keep_seconds: float, now: float | None = None) -> int:
        """Drop entries older than the trail's retention (counted back from `now`)."""
        oldest = int(((now or time.time()) - keep_seconds) * 1000)
        return int(self.client.xtrim(AUDIT, minid=f"{oldest}-0"))


def entry_of(entry_id: str, fields: dict[str, str]) -> AuditEntry:
    """One record as XRANGE gives it, written now (FIELD) or before issue 17 (a field per
    datum): for readers of the raw stream (tests that watch what an action appended)."""
    return _entry(entry_id, fields)


def _entry(entry_id: str, fields: dict[str, str]) -> AuditEntry:
    """One record, as written now (FIELD) or before issue 17 (a field per datum)."""
    if FIELD in fields:
        return _compact_entry(entry_id, fields[FIELD])
    try:
        detail = json.loads(fields.get("detail", "{}"))
    except ValueError:
        detail = {}
    return AuditEntry(
        id=entry_id,
        at=float(fields.get("at", 0)),
        actor=fields.get("actor", ""),
        action=fields.get("action", ""),
        subject=fields.get("subject", ""),
        purpose=fields.get("purpose", ""),
        result=fields.get("result", ""),
        detail=detail if isinstance(detail, dict) else {},
    )


def _compact_entry(entry_id: str, body: str) -> AuditEntry:
    try:
        actor, action, subject, purpose, result, detail = json.loads(body)
    except (ValueError, TypeError):
        actor, action, subject, purpose, result, detail = "", "", "", "", "", {}
    return AuditEntry(
        id=entry_id,
        at=_entry_time(entry_id),
        actor=str(actor),
        action=str(action),
        subject=str(actor) if subject == SELF else str(subject),
        purpose=str(purpose),
        result=str(result),
        detail=detail if isinstance(detail, dict) else {},
    )


def _entry_time(entry_id: str) -> float:
    """The entry id's milliseconds: when Redis appended it (the ids only increase)."""
    try:
        return int(entry_id.partition("-")[0]) / 1000
    except ValueError:
        return 0.0

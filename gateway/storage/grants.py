"""Grant records in Redis: the one place that writes them, with fencing against stale writers.

A grant's record is one hash under its owner's hash tag. `version` grows with every change
of its tokens or status; a refresh writes back only if it still holds the refresh lock and
the version is the one it read (a Lua script checks both atomically), so a refresh that
raced a revocation or a newer refresh never overwrites them. Revoking or purging deletes the
wrapped data key (crypto-shredding), the sealed tokens and subject, and every key listed in
the grant's cache index, and bumps `epoch` so in-flight fetches know their result is stale.
"""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import redis

from gateway.storage import answers, grant_scripts, grant_sweeps, keys
from gateway.storage.grant_states import read_states
from gateway.storage.readable import hgetall_text, unreadable
from gateway.storage.scope_lists import packed, unpacked

ACTIVE = "active"
NEEDS_CONSENT = "needs_consent"
REVOKED = "revoked"
BROKEN = "broken"
SECRET_FIELDS = ("dk", "tokens", "subject")
# revocations whose local part Redis refused to finish (memory limit): field "uid gid"
UNFINISHED = f"{keys.PREFIX}:{{revocations}}:unfinished"
LOCK_MILLISECONDS = 15_000


@dataclass(frozen=True)
class GrantRecord:
    uid: str
    id: str
    provider: str
    purpose: str
    status: str
    reason: str
    scopes: frozenset[str]
    created: float
    last_used: float
    last_refreshed: float
    expires_at: float
    version: int
    epoch: int
    wrapped_key: str | None
    sealed_tokens: str | None
    sealed_subject: str | None
    # a keyed hash of the provider account (services/grants.py): several accounts of one
    # provider each keep their grant, and a new consent replaces only its own account's
    account_mark: str = ""

    @property
    def usable(self) -> bool:
        return self.status == ACTIVE and self.wrapped_key is not None


class GrantStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._write_if_fenced = client.register_script(grant_scripts.WRITE_IF_FENCED)
        self._unlock = client.register_script(grant_scripts.UNLOCK)
        self._rewrap = client.register_script(grant_scripts.REWRAP)
        self._shred = client.register_script(grant_scripts.SHRED)
        self._keep_if_absent = client.register_script(grant_scripts.KEEP_IF_ABSENT)

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(12)

    def create(
        self,
        uid: str,
        gid: str,
        *,
        provider: str,
        purpose: str,
        scopes: frozenset[str],
        expires_at: float,
        wrapped_key: str,
        sealed_tokens: str,
        sealed_subject: str,
        account_mark: str = "",
    ) -> None:
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            keys.grant(uid, gid),
            mapping={  # no `reason`, `last_used`, `last_refreshed` yet: "", 0, `created`
                "id": gid,
                "provider": provider,
                "purpose": purpose,
                "status": ACTIVE,
                "scopes": packed(sorted(scopes)),
                "created": f"{now:.3f}",
                "expires_at": _seconds(expires_at),
                "version": "1",
                "epoch": "1",
                "dk": wrapped_key,
                "tokens": sealed_tokens,
                "subject": sealed_subject,
                **({"account": account_mark} if account_mark else {}),
            },
        )
        pipe.sadd(keys.grants(uid), gid)
        pipe.execute()

    def load(self, uid: str, gid: str) -> GrantRecord | None:
        return grant_record_of(uid, hgetall_text(self.client, keys.grant(uid, gid), "grant field"))

    def states(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str] | None]:
        """(provider, status) of several grants, (uid, gid) each, in one round trip; None:
        no such grant (gateway/storage/grant_states.py)."""
        return read_states(self.client, pairs, self.load, _TIMES, _COUNTS)

    def list(self, uid: str) -> list[GrantRecord]:
        gids = sorted(str(g) for g in self.client.smembers(keys.grants(uid)))
        pipe = self.client.pipeline(transaction=False)
        for gid in gids:
            pipe.hgetall(keys.grant(uid, gid))
        try:
            raws = pipe.execute()
        except UnicodeDecodeError:  # a field is not ours: read them one by one
            raws = [hgetall_text(self.client, keys.grant(uid, g), "grant field") for g in gids]
        found = [grant_record_of(uid, raw) for raw in raws]
        return sorted((r for r in found if r), key=lambda r: r.created)

    # -- refresh: a lock plus a fenced write ---------------------------------------------------
    def try_lock(self, uid: str, gid: str) -> str | None:
        holder = secrets.token_urlsafe(12)
        taken = self.client.set(keys.grant_lock(uid, gid), holder, nx=True, px=LOCK_MILLISECONDS)
        return holder if taken else None

    def locked(self, uid: str, gid: str) -> bool:
        return bool(self.client.exists(keys.grant_lock(uid, gid)))

    def unlock(self, uid: str, gid: str, holder: str) -> None:
        self._unlock(keys=[keys.grant_lock(uid, gid)], args=[holder])

    def write_refreshed(
        self,
        record: GrantRecord,
        holder: str,
        *,
        sealed_tokens: str,
        scopes: frozenset[str],
        expires_at: float,
    ) -> bool:
        """Store refreshed tokens; False when the lock or the version was lost meanwhile."""
        fields = {
            "tokens": sealed_tokens,
            "scopes": packed(sorted(scopes)),
            "expires_at": _seconds(expires_at),
            "last_refreshed": f"{time.time():.3f}",  # ms, as `created`: never before it
        }
        args: list[str] = [holder, str(record.version)]
        for name, value in fields.items():
            args += [name, value]
        written = self._write_if_fenced(
            keys=[keys.grant(record.uid, record.id), keys.grant_lock(record.uid, record.id)],
            args=args,
        )
        return bool(written)

    def touch_used(self, record: GrantRecord, every_seconds: float = 60.0) -> None:
        """Record use at most once a minute: the hot path should not write on every read."""
        now = time.time()
        if now - record.last_used >= every_seconds:
            self.client.hset(keys.grant(record.uid, record.id), "last_used", _seconds(now))

    # -- ending a grant ------------------------------------------------------------------------
    def purge(self, uid: str, gid: str, *, status: str, reason: str, forget: bool = False) -> int:
        """Shred the grant's keys and tokens and drop its cached data; keep why (or, with
        `forget`, nothing at all). Returns how many cached keys were deleted."""
        cached = self.shred(uid, gid, forget=forget)
        if not forget:
            self.mark_ended(uid, gid, status=status, reason=reason)
        answers.bump(self.client)
        return cached

    def shred(self, uid: str, gid: str, *, forget: bool = False) -> int:
        """Delete the wrapped data key, tokens, subject, lock and cached data at once, in
        deletes only: Redis runs those even at its memory limit (`noeviction` refuses only
        commands that may grow memory, and inside MULTI it refuses everything, so this is a
        script). Returns how many cached keys were deleted."""
        grant_key = keys.grant(uid, gid)
        cached = [str(k) for k in self.client.smembers(keys.grant_cached(uid, gid))]
        self._shred(
            keys=[
                grant_key,
                keys.grants(uid),
                keys.grant_lock(uid, gid),
                keys.grant_cached(uid, gid),
                *cached,
            ],
            args=["forget" if forget else "keep", gid, *SECRET_FIELDS],
        )
        return len(cached)

    def mark_ended(self, uid: str, gid: str, *, status: str, reason: str) -> None:
        """The small write after `shred`: why it ended, and the version and epoch bumped so
        that no in-flight refresh or fetch writes back (both need the shredded key)."""
        grant_key = keys.grant(uid, gid)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(grant_key, mapping={"status": status, "reason": reason, "expires_at": "0"})
        pipe.hincrby(grant_key, "version", 1)
        pipe.hincrby(grant_key, "epoch", 1)
        pipe.execute()

    def provider_result(self, uid: str, gid: str) -> str | None:
        """What the provider said when the grant's revocation told it, if it was told."""
        return cast(str | None, self.client.hget(keys.grant(uid, gid), "provider_result"))

    def note_provider_result(self, uid: str, gid: str, result: str) -> None:
        self.client.hset(keys.grant(uid, gid), "provider_result", result)

    def bump_answers(self) -> None:
        """Remembered free/busy answers are out of date (answers.py)."""
        answers.bump(self.client)

    # -- sweeps over every user ------------------------------------------------------------------
    def every_grant(self) -> Iterator[tuple[str, str]]:
        """(uid, gid) of every grant record (SCAN: admin sweeps and retention only)."""
        return grant_sweeps.every_grant(self.client)

    def provider_and_status(self, uid: str, gid: str) -> tuple[str | None, str | None]:
        """Two fields of a grant, without reading the rest (sweeps)."""
        provider, status = self.client.hmget(keys.grant(uid, gid), ["provider", "status"])
        return cast(str | None, provider), cast(str | None, status)

    # -- revocations left unfinished -----------------------------------------------------------
    def keep_unfinished(self, uid: str, gid: str, state: str) -> None:
        """Record it unless one is recorded already (a second click on "Disconnect" while
        Redis is full must not replace the first, which knows what the provider said)."""
        self._keep_if_absent(keys=[UNFINISHED], args=[f"{uid} {gid}", state])

    def claim_unfinished(self) -> builtins.list[str]:
        """Take every recorded unfinished revocation; each goes to exactly one caller (HDEL
        answers 1 to one of them), who keeps it again if it cannot finish it either."""
        claimed = []
        for field, state in dict(self.client.hgetall(UNFINISHED)).items():
            if self.client.hdel(UNFINISHED, field):
                claimed.append(str(state))
        return claimed

    # -- key rotation ----------------------------------------------------------------------------
    def rewrap(self, key: str, old: str, new: str) -> bool:
        return bool(self._rewrap(keys=[key], args=[old, new]))


_TIMES = ("created", "last_used", "last_refreshed", "expires_at")


def _seconds(moment: float) -> str:
    """Whole seconds: a listpack keeps them as an integer, 6 bytes, not 19 (issue 17)."""
    return str(int(moment))


_COUNTS = ("version", "epoch")


def grant_record_of(uid: str, raw: dict[str, str]) -> GrantRecord | None:
    """The record; a field that is unreadable is left out (a grant missing its sealed tokens
    fails to open and is purged as broken), and unreadable numbers make it broken."""
    if not raw or "id" not in raw:
        return None
    status = raw.get("status", BROKEN)
    try:
        numbers = [float(raw.get(n, 0)) for n in _TIMES] + [int(raw.get(n, 0)) for n in _COUNTS]
    except ValueError:
        unreadable("grant field")
        numbers, status = [0.0] * (len(_TIMES) + len(_COUNTS)), BROKEN
    created, last_used, last_refreshed, expires_at, version, epoch = numbers
    if "last_refreshed" not in raw:  # not refreshed since it was created
        last_refreshed = created
    return GrantRecord(
        uid=uid,
        id=raw["id"],
        provider=raw.get("provider", ""),
        purpose=raw.get("purpose", ""),
        status=status,
        reason=raw.get("reason", ""),
        scopes=frozenset(unpacked(raw.get("scopes", ""))),
        created=created,
        last_used=last_used,
        last_refreshed=last_refreshed,
        expires_at=expires_at,
        version=int(version),
        epoch=int(epoch),
        wrapped_key=raw.get("dk"),
        sealed_tokens=raw.get("tokens"),
        sealed_subject=raw.get("subject"),
        account_mark=raw.get("account", ""),
    )

"""Restores keep erasures erased: every revocation and erasure leaves a tombstone outside
Redis, and `replay` destroys again whatever a restored backup brought back.

Why a log outside Redis: a backup of Redis taken before an erasure holds the person again,
and a restored refresh token may still work at the provider (Microsoft has no revoke
endpoint). The log is small (ids and counts only) and append-only; replaying it is
idempotent, so an operator may replay a generous window after any restore.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway import metrics
from gateway.storage.grants import REVOKED
from gateway.storage.tombstones import TombstoneLog

log = logging.getLogger(__name__)
ACTOR = "system"  # the audit trail and the receipts name the gateway itself
REASON = "replayed after a restore: this was revoked or erased before"
GRANT, ERASURE = "grant-revocation", "erasure"


class Grants(Protocol):
    def get(self, uid: str, gid: str) -> Any: ...
    def tokens_if_readable(self, uid: str, gid: str) -> Any: ...


@dataclass
class Replayed:
    """What one replay did: counts only (the ids stay in the log)."""

    read: int = 0
    erasures: int = 0
    revocations: int = 0
    already_applied: int = 0
    unreadable: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Tombstones:
    """Writes tombstones for the revocation and privacy services, and replays them."""

    def __init__(self, log_: TombstoneLog, clock: Callable[[], float] = time.time) -> None:
        self.log = log_
        self.clock = clock

    def grant_ended(
        self, uid: str, gid: str, *, provider: str, purpose: str, destroyed: dict[str, int]
    ) -> None:
        self._append(
            {"kind": GRANT, "user": uid, "grant": gid, "provider": provider, "purpose": purpose},
            destroyed,
        )

    def user_erased(self, uid: str, *, destroyed: dict[str, int]) -> None:
        self._append({"kind": ERASURE, "user": uid}, destroyed)

    def _append(self, what: dict[str, Any], destroyed: dict[str, int]) -> None:
        tombstone = {**what, "at": round(self.clock(), 3), "destroyed": destroyed}
        try:
            self.log.append(tombstone)
        except OSError as error:
            # The destruction itself has happened; only the protection against a later
            # restore is missing. Loud (a log line, and a counter its alert watches), but not
            # a reason to undo or refuse the erasure.
            metrics.tombstone_failure(what["kind"])
            log.error(
                "tombstone log %s not written (%s): a restore of an older backup would bring "
                "this %s back",
                self.log.folder,
                type(error).__name__,
                what["kind"],
            )

    def prune(self, keep_seconds: float) -> int:
        """Forget tombstones older than any backup they protect against (the catalogue's
        `erasure-tombstone` retention, longer than backups are kept)."""
        return self.log.prune(self.clock() - keep_seconds)

    def replay(
        self,
        since: float,
        *,
        user_exists: Callable[[str], bool],
        grants: Grants,
        erase: Callable[[str], object],
        revoke: Callable[[str, str], object],
    ) -> Replayed:
        """Destroy again what each tombstone since `since` destroyed, where it is back."""
        read = self.log.read(since)
        done = Replayed(read=len(read.tombstones), unreadable=read.unreadable)
        for tombstone in read.tombstones:
            uid, gid = str(tombstone.get("user", "")), str(tombstone.get("grant", ""))
            if tombstone.get("kind") == ERASURE and uid and user_exists(uid):
                erase(uid)
                done.erasures += 1
            elif tombstone.get("kind") == GRANT and uid and gid and _back(grants, uid, gid):
                revoke(uid, gid)
                done.revocations += 1
            else:
                done.already_applied += 1
        log.info("tombstones replayed since %s: %s", since, done.as_dict())
        return done


def _back(grants: Grants, uid: str, gid: str) -> bool:
    """Whether a restore brought the grant back: in force again, or its tokens readable."""
    view = grants.get(uid, gid)
    if view is None:
        return False
    return view.status != REVOKED or grants.tokens_if_readable(uid, gid) is not None

"""Which grant endings their owner was told about, so each is told once.

    gw:{u:UID}:notice:<gid>:<epoch>   string "1"   one per ending of a grant (the epoch grows
                                                   with each), for NOTICE_SECONDS

A grant can be found refused by several requests and processes at once; the first to claim
the ending (SET NX) sends the e-mail, the others do nothing.
"""

from __future__ import annotations

import redis

from gateway.storage import keys

NOTICE_SECONDS = 30 * 24 * 3600


def notice(uid: str, gid: str, epoch: int) -> str:
    return f"{keys.user_tag(uid)}:notice:{gid}:{epoch}"


class NoticeStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def claim(self, uid: str, gid: str, epoch: int) -> bool:
        """True for exactly one caller per grant ending."""
        return bool(self.client.set(notice(uid, gid, epoch), "1", nx=True, ex=NOTICE_SECONDS))

"""Who is asking the JSON API: an API client (Bearer credential) or a signed-in user.

Room visibility is decided here: a room is visible to a caller when the room lists one of
the caller's audiences in its `visibility`, or names the caller's id explicitly; a
signed-in user has the audience "members" and also sees the rooms they host.
"""

from __future__ import annotations

from dataclasses import dataclass

MEMBERS = "members"


@dataclass(frozen=True)
class Caller:
    kind: str  # "client" | "user"
    id: str
    audiences: frozenset[str]
    rooms: frozenset[str] = frozenset()
    rate_limit: str = ""

    def can_see(
        self, room_id: str, visibility: list[str] | tuple[str, ...], host: str | None
    ) -> bool:
        if room_id in self.rooms:
            return True
        if self.kind == "user" and host == self.id:
            return True
        return bool(self.audiences.intersection(visibility))


def user_caller(uid: str) -> Caller:
    return Caller(kind="user", id=uid, audiences=frozenset({MEMBERS}))

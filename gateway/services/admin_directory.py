"""What the admin console lists: rooms, people, API clients and grants, searched and paged.

The console used to find things only by an id an admin had to know. These lists answer
"which rooms does London have", "who is Carol", "which grants need reconnecting". They are
read for a person in a browser, so every list is searched by substring (case aside) and cut
into pages of PAGE_SIZE, newest or alphabetical as suits it.

People's names and e-mail addresses are sealed under each person's own key; they are opened
here only to be shown (or searched) on an admin's page, and every person whose name an admin
is shown is one `user.list` audit record about that person, as opening their profile is one
`user.view`: a person can learn that an admin looked them up. A search opens every profile
to match it (there is no plaintext index to search, by design) but records only those shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.services.api_clients import ApiClientService
from gateway.services.grants import GrantService
from gateway.services.room_status import NEEDS_RECONNECT, OK, RESTRICTED, UNBOUND
from gateway.services.rooms import Room, RoomService
from gateway.storage.api_clients import ApiClient
from gateway.storage.audit import AuditTrail
from gateway.storage.grants import ACTIVE, BROKEN, NEEDS_CONSENT, REVOKED
from gateway.storage.users import User, UserStore

PAGE_SIZE = 25
QUERY_MAX = 100
# grant states an admin filters by: the stored statuses each one gathers
GRANT_STATES: dict[str, tuple[str, ...]] = {
    "active": (ACTIVE,),
    "needs_reconnect": (NEEDS_CONSENT, BROKEN),
    "revoked": (REVOKED,),
}
GRANT_STATE_WORDS = {
    "active": "Active",
    "needs_reconnect": "Needs reconnecting or new consent",
    "revoked": "Revoked",
}

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, which page of how many, and the search that made it."""

    items: tuple[T, ...]
    number: int
    pages: int
    total: int
    query: str

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


@dataclass(frozen=True)
class Person:
    """What an admin's list shows of a person: opened for this page only."""

    id: str
    name: str
    email: str
    providers: tuple[str, ...]
    created: float


@dataclass(frozen=True)
class HostChoices:
    """The host picker's people; `more`: matches left out (narrow the search);
    `needs_search`: a large directory, nobody listed until a search."""

    people: tuple[Person, ...]
    query: str
    more: int
    needs_search: bool


@dataclass(frozen=True)
class RoomRow:
    room: Room
    status: str  # ok (its calendars are connected), restricted, needs_reconnect or unbound
    host_name: str | None


@dataclass(frozen=True)
class GrantRow:
    uid: str
    id: str
    provider: str
    purpose: str
    status: str
    reason: str
    created: float


def normalised(query: str) -> str:
    """The search as matched: trimmed, at most QUERY_MAX characters, case folded."""
    return " ".join(query.split())[:QUERY_MAX].casefold()


def paged(items: Sequence[T], number: int, query: str) -> Page[T]:
    """Page `number` (1-based; past the end shows the last page) of `items`."""
    pages = max(1, math.ceil(len(items) / PAGE_SIZE))
    number = min(max(1, number), pages)
    start = (number - 1) * PAGE_SIZE
    return Page(tuple(items[start : start + PAGE_SIZE]), number, pages, len(items), query)


def matching(items: Iterable[T], query: str, text: Callable[[T], Iterable[str | None]]) -> list[T]:
    wanted = normalised(query)
    if not wanted:
        return list(items)
    return [i for i in items if any(wanted in (t or "").casefold() for t in text(i))]


class AdminDirectory:
    """The searchable lists of the admin console; a person's name is opened only here."""

    def __init__(
        self,
        rooms: RoomService,
        users: UserStore,
        grants: GrantService,
        clients: ApiClientService,
        audit: AuditTrail,
        restricted_among: Callable[[set[str]], set[str]],
    ) -> None:
        self.rooms = rooms
        self.users = users
        self.grants = grants
        self.clients = clients
        self.audit = audit
        self.restricted_among = restricted_among  # who paused processing (GDPR Art. 18)

    # -- people ----------------------------------------------------------------------------
    def people(self, query: str, number: int, actor: str) -> Page[Person]:
        """People whose name, e-mail or id contains `query`, by name; each shown is audited."""
        everyone = self._everyone() if normalised(query) else None
        if everyone is None:  # no search: open only the page's profiles
            ids = sorted(self.users.ids())
            window = paged(ids, number, "")
            shown = [p for p in map(self._person, window.items) if p]
            page = Page(tuple(shown), window.number, window.pages, window.total, query)
        else:
            found = matching(everyone, query, lambda p: (p.name, p.email, p.id))
            page = paged(found, number, query)
        self.record_shown(actor, [p.id for p in page.items])
        return page

    def host_choices(self, query: str, current: str, actor: str) -> HostChoices:
        """The people a room's host is picked from, by name; each shown is audited.

        A directory of up to PAGE_SIZE people is listed whole. A larger one lists those a
        search (`query`) finds, a page of them, and otherwise no one: opening every profile
        each time the form is shown would decrypt (and audit) the whole directory for
        nothing. The room's `current` host is always among the choices when their profile
        opens, so saving the form for another change keeps them."""
        searched = bool(normalised(query))
        needs_search = not searched and len(self.users.ids()) > PAGE_SIZE
        if not needs_search:
            found = self.people(query, 1, actor)
            people = list(found.items)
            more = found.total - len(people) if searched else 0
        else:
            people, more = [], 0
        if current and current not in {p.id for p in people}:
            host = self._person(current)
            if host is not None:
                self.record_shown(actor, [host.id])
                people.append(host)
        people.sort(key=lambda p: (p.name.casefold(), p.email.casefold(), p.id))
        return HostChoices(tuple(people), query, more, needs_search)

    def record_shown(self, actor: str, uids: Iterable[str]) -> None:
        """One `user.list` record about each person whose name an admin's page shows."""
        for uid in dict.fromkeys(uids):
            self.audit.record(actor=actor, action="user.list", subject=uid)

    def _everyone(self) -> list[Person]:
        people = [p for p in map(self._person, self.users.ids()) if p]
        return sorted(people, key=lambda p: (p.name.casefold(), p.email.casefold(), p.id))

    def _person(self, uid: str) -> Person | None:
        user = self.users.get(uid)
        return _as_person(user) if user else None

    # -- rooms -----------------------------------------------------------------------------
    def room_list(self, query: str, number: int, actor: str) -> Page[RoomRow]:
        """Rooms whose id, name, location or equipment contains `query`, by name, with
        whether a calendar is connected and who hosts them (hosts shown are audited)."""
        rooms = sorted(self.rooms.all(), key=lambda r: (r.name.casefold(), r.id))
        found = matching(rooms, query, lambda r: (r.id, r.name, r.location, *r.equipment))
        window = paged(found, number, query)
        ids = [r.id for r in window.items]
        calendars = self.rooms.pointer_sets(ids) if ids else {}
        hosts = {
            uid: self._person(uid) for uid in dict.fromkeys(r.host for r in window.items if r.host)
        }
        paused = self.restricted_among({ps[0][0] for ps in calendars.values() if ps})
        rows = []
        for room in window.items:
            host = hosts.get(room.host) if room.host else None
            status = self._room_status(calendars.get(room.id, ()), paused)
            rows.append(RoomRow(room, status, host.name if host else None))
        self.record_shown(actor, [uid for uid, person in hosts.items() if person])
        return Page(tuple(rows), window.number, window.pages, window.total, query)

    def _room_status(self, calendars: Sequence[tuple[str, str, str]], paused: set[str]) -> str:
        """The room's status as far as the gateway knows without asking the provider, as
        the API would answer it (`unknown` arises only when the provider is asked)."""
        if not calendars:
            return UNBOUND
        if calendars[0][0] in paused:  # the host paused processing: nothing is read
            return RESTRICTED
        grants = [self.grants.get(uid, gid) for uid, gid, _ in calendars]
        if any(g is None or g.status != ACTIVE for g in grants):  # any one calendar
            return NEEDS_RECONNECT
        return OK

    # -- API clients -----------------------------------------------------------------------
    def client_list(self, query: str, number: int) -> Page[ApiClient]:
        """Clients whose name, id or audience contains `query`, newest first."""
        clients = sorted(self.clients.all(), key=lambda c: -c.created)
        found = matching(clients, query, lambda c: (c.name, c.id, *c.audiences))
        return paged(found, number, query)

    def audiences(self) -> list[str]:
        """The group names API clients belong to (a room's visibility may list them)."""
        return sorted({a for c in self.clients.all() for a in c.audiences})

    # -- grants ----------------------------------------------------------------------------
    def grant_list(self, state: str, query: str, number: int) -> Page[GrantRow]:
        """Grants in `state` (a GRANT_STATES key) whose owner id, grant id, provider or
        purpose contains `query`, newest first. Walks every grant (SCAN): admin pages only."""
        wanted = GRANT_STATES[state]
        rows = []
        for uid, gid in self.grants.every_grant():
            grant = self.grants.get(uid, gid)
            if grant is not None and grant.status in wanted:
                rows.append(
                    GrantRow(uid, gid, grant.provider, grant.purpose, grant.status,
                             grant.reason, grant.created)
                )  # fmt: skip
        rows.sort(key=lambda g: -g.created)
        found = matching(rows, query, lambda g: (g.uid, g.id, g.provider, g.purpose))
        return paged(found, number, query)


def _as_person(user: User) -> Person:
    providers = tuple(dict.fromkeys(i.provider for i in user.identities))
    return Person(user.id, user.name or "", user.email or "", providers, user.created)

"""The admin console's lists (services/admin_directory.py) over a real Redis: people opened
only for the page shown and each shown person audited, pages of PAGE_SIZE, a profile that no
longer opens left out (never a 500), grants gathered by state."""

from __future__ import annotations

import time

import pytest
import redis
from flask import Flask

from gateway.services.admin_directory import PAGE_SIZE, AdminDirectory, normalised, paged
from gateway.storage import keys
from gateway.storage.users import LinkedIdentity

# Lists walk every user and grant (SCAN): on a single server and on every node of a cluster.
pytestmark = pytest.mark.redis_deployments

ADMIN = "the-admin-uid"


@pytest.fixture
def directory(app: Flask) -> AdminDirectory:
    found: AdminDirectory = app.extensions["gateway"].directory
    return found


def person(app: Flask, name: str, email: str | None = None) -> str:
    """A user as a first sign-in creates one (Google, verified e-mail)."""
    users = app.extensions["gateway"].users
    identity = LinkedIdentity(
        provider="google",
        subject=f"sub-{name}",
        email=email if email is not None else f"{name.lower()}@example.com",
        name=name,
        linked_at=time.time(),
    )
    return str(users.create_with_identity(identity))


def listed_about(app: Flask, uid: str) -> int:
    trail = app.extensions["gateway"].audit
    return len(trail.entries(subject=uid, action="user.list"))


def test_pages_count_from_one_and_past_the_end_show_the_last() -> None:
    items = list(range(PAGE_SIZE * 2 + 3))
    assert paged(items, 1, "").items == tuple(range(PAGE_SIZE))
    last = paged(items, 99, "")
    assert (last.number, last.pages, last.total, last.items) == (3, 3, 53, (50, 51, 52))
    assert (last.previous, last.next) == (2, None)
    first = paged([], 0, "")
    assert (first.number, first.pages, first.previous, first.next) == (1, 1, None, None)
    assert normalised("  Alice   EXAMPLE ") == "alice example"


def test_people_without_a_search_open_only_the_page_shown(
    app: Flask, directory: AdminDirectory
) -> None:
    uids = [person(app, f"Person{n:02d}") for n in range(PAGE_SIZE + 2)]
    first = directory.people("", 1, actor=ADMIN)
    second = directory.people("", 2, actor=ADMIN)
    assert (first.total, first.pages, len(first.items), len(second.items)) == (27, 2, 25, 2)
    shown = [p.id for p in first.items + second.items]
    assert sorted(shown) == sorted(uids)
    # every person shown is one record about them; nobody is recorded twice for one page
    assert all(listed_about(app, uid) == 1 for uid in uids)


def test_a_search_matches_names_and_e_mails_and_audits_only_those_shown(
    app: Flask, directory: AdminDirectory
) -> None:
    carol = person(app, "Carol Contoso", "carol@contoso.example")
    dave = person(app, "Dave", "dave@contoso.example")
    erin = person(app, "Erin")
    found = directory.people("CONTOSO", 1, actor=ADMIN)
    assert [p.name for p in found.items] == ["Carol Contoso", "Dave"]  # by name
    assert found.items[0].email == "carol@contoso.example"
    assert found.items[0].providers == ("google",)
    assert (listed_about(app, carol), listed_about(app, dave), listed_about(app, erin)) == (1, 1, 0)
    assert directory.people("nobody", 1, actor=ADMIN).items == ()


def test_a_profile_that_does_not_open_is_left_out(
    app: Flask, directory: AdminDirectory, redis_client: redis.Redis
) -> None:
    intact = person(app, "Intact")
    broken = person(app, "Broken")
    redis_client.hset(keys.profile(broken), "sealed", "not-a-sealed-profile")
    assert [p.id for p in directory.people("", 1, actor=ADMIN).items] == [intact]
    assert [p.id for p in directory.people("o", 1, actor=ADMIN).items] == [intact]
    assert [p.id for p in directory.host_choices("", "", actor=ADMIN).people] == [intact]
    assert [p.id for p in directory.host_choices("", broken, actor=ADMIN).people] == [intact]
    assert listed_about(app, broken) == 0


def test_the_host_picker_opens_a_large_directory_only_for_a_search(
    app: Flask, directory: AdminDirectory
) -> None:
    small = person(app, "Zoe Small")
    assert [p.id for p in directory.host_choices("", "", actor=ADMIN).people] == [small]
    uids = [person(app, f"Person{n:02d}") for n in range(PAGE_SIZE)]  # now PAGE_SIZE + 1
    before = {uid: listed_about(app, uid) for uid in uids}

    shown = directory.host_choices("", "", actor=ADMIN)
    assert shown.people == () and shown.needs_search  # nobody opened, nobody audited
    assert {uid: listed_about(app, uid) for uid in uids} == before

    # the room's current host stays a choice (and is audited as shown)
    kept = directory.host_choices("", uids[3], actor=ADMIN)
    assert [p.id for p in kept.people] == [uids[3]] and kept.needs_search
    assert listed_about(app, uids[3]) == before[uids[3]] + 1

    found = directory.host_choices("person1", "", actor=ADMIN)
    assert [p.name for p in found.people] == [f"Person1{n}" for n in range(10)]
    assert not found.needs_search and found.more == 0
    assert listed_about(app, uids[12]) == before[uids[12]] + 1
    assert listed_about(app, uids[2]) == before[uids[2]]  # not shown: not recorded
    wide = directory.host_choices("person", uids[0], actor=ADMIN)
    assert len(wide.people) == PAGE_SIZE and wide.more == 0  # uids[0] is on the page
    assert directory.host_choices("nobody", "", actor=ADMIN).people == ()


def test_rooms_are_searched_with_their_host_and_calendar_state(
    app: Flask, directory: AdminDirectory
) -> None:
    rooms = app.extensions["gateway"].rooms
    host = person(app, "Hosting Hana")
    rooms.create({"id": "atlas", "name": "Atlas", "time_zone": "UTC", "host": host})
    rooms.create({"id": "b", "name": "Borealis", "location": "Atlas Street", "time_zone": "UTC"})
    page = directory.room_list("atlas", 1, actor=ADMIN)
    assert [(r.room.id, r.status, r.host_name) for r in page.items] == [
        ("atlas", "unbound", "Hosting Hana"),
        ("b", "unbound", None),
    ]
    assert listed_about(app, host) == 1


def test_clients_are_found_by_audience_and_no_grant_is_in_any_state_yet(
    app: Flask, directory: AdminDirectory
) -> None:
    clients = app.extensions["gateway"].clients
    first, _ = clients.create("Frontend", audiences=["booking"])
    clients.create("Signage", audiences=["lobby"])
    assert [c.id for c in directory.client_list("book", 1).items] == [first.id]
    assert directory.audiences() == ["booking", "lobby"]
    for state in ("active", "needs_reconnect", "revoked"):
        assert directory.grant_list(state, "", 1).items == ()

"""Rooms and bindings: the registry's rules, who may bind what, and how bindings end."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from flask import Flask

from connectors.values import Identity
from emulator.records import Fault
from gateway.blueprints.admin_rooms import admin_rooms
from gateway.blueprints.rooms import rooms
from gateway.cli_rooms import rooms_cli
from gateway.services.purposes import provider_kinds
from gateway.services.room_model import (
    BindingRefused,
    CalendarListUnavailable,
    InvalidCalendar,
    InvalidRoom,
    RoomExists,
    RoomNotFound,
)
from gateway.services.rooms import RoomService
from gateway.storage import keys, room_keys
from gateway.storage.grants import REVOKED
from gateway.storage.rooms import RoomStore

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@contoso.example"
FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
CALENDAR_LIST = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
CALENDARS = "Calendars.ReadBasic"
SCOPES = {
    ("google", "room-availability"): FREEBUSY,
    ("google", "calendar-choice"): CALENDAR_LIST,
    ("microsoft", "room-availability"): CALENDARS,
    ("microsoft", "calendar-choice"): CALENDARS,
}
WEEKDAYS_9_TO_5 = {"monday": [["09:00", "17:00"]], "friday": [["13:00", "17:00"]]}


def wire_rooms(app: Flask) -> RoomService:
    """Until app.py and context.py construct them: the room service, pages, API and CLI."""
    found = app.extensions["gateway"]
    if not hasattr(found, "rooms"):
        found.rooms = RoomService(
            RoomStore(found.redis), found.grants, provider_kinds(found.settings), found.audit
        )
        found.revocation.unbind_hooks.append(found.rooms.unbind_grant)
        found.consent.rebind_hooks.append(found.rooms.rebind_grant)
    if "rooms" not in app.blueprints:
        app.register_blueprint(rooms)
        app.register_blueprint(admin_rooms)
    if "rooms" not in app.cli.commands:
        app.cli.add_command(rooms_cli)
    return found.rooms  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def service(app: Flask) -> RoomService:
    return wire_rooms(app)


def authorize(app: Flask, sign_in: Any, provider: str, account: str, scope: str) -> Identity:
    connector = app.extensions["gateway"].signin.connectors[provider]
    redirect_uri = app.extensions["gateway"].settings.redirect_uri(provider)
    request = connector.begin(redirect_uri, f"state-{time.monotonic_ns()}", (scope,))
    sign_in.emulator.client.authorize_next(account)
    _, params = sign_in.at_provider(request.url)
    return connector.complete(redirect_uri, request.flow, params)  # type: ignore[no-any-return]


def give(
    app: Flask,
    sign_in: Any,
    uid: str,
    purpose: str = "room-availability",
    provider: str = "google",
    account: str = ALICE,
) -> str:
    """A grant of `purpose` for user `uid`, authorized at the emulator as `account`."""
    identity = authorize(app, sign_in, provider, account, SCOPES[(provider, purpose)])
    return str(app.extensions["gateway"].grants.create(uid, purpose, identity).id)


def user(browser: Any, account: str, provider: str = "google") -> str:
    browser.complete(provider, account)
    return str(browser.client.get("/v1/me").get_json()["id"])


@pytest.fixture
def alice(sign_in: Any) -> str:
    return user(sign_in, ALICE)


@pytest.fixture
def bob(another_browser: Any) -> str:
    return user(another_browser(), BOB)


def room(service: RoomService, room_id: str = "blue", host: str | None = None, **extra: Any) -> Any:
    data = {"id": room_id, "name": "Blue room", "time_zone": "Europe/Brussels", "host": host}
    return service.create({**data, "hours": WEEKDAYS_9_TO_5, **extra})


# -- the registry ------------------------------------------------------------------------------
def test_a_room_keeps_its_fields_with_hours_in_order(service: RoomService, alice: str) -> None:
    created = room(
        service,
        host=alice,
        location="Brussels, 3rd floor",
        hours={"tuesday": [["13:00", "17:00"], ["08:30", "12:00"]]},
        visibility=["staff", "frontend", "staff"],
    )
    assert created.hours == {"tuesday": [["08:30", "12:00"], ["13:00", "17:00"]]}
    assert created.visibility == ["frontend", "staff"]
    assert created.created == created.updated
    assert service.require("blue") == created
    assert service.all() == [created]
    assert service.hosted_by(alice) == [created]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone: 'Mars/Olympus' is not an IANA time zone"),
        ({"time_zone": "../../etc/passwd"}, "is not an IANA time zone"),
        ({"hours": {"monday": [["09:00", "09:00"]]}}, "monday: 09:00-09:00 must start before"),
        ({"hours": {"monday": [["9:00", "17:00"]]}}, "'9:00' is not a time of day as HH:MM"),
        ({"hours": {"monday": [["09:00", "24:30"]]}}, "'24:30' is not a time of day"),
        ({"hours": {"monday": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "ranges overlap"),
        ({"hours": {"someday": [["09:00", "12:00"]]}}, "hours.someday"),
        ({"hours": {"monday": [["09:00"]]}}, "monday: each range is [start, end]"),
        ({"id": "Blue Room"}, "id: must be 1 to 64 lower-case letters"),
        ({"id": "x" * 65}, "id: must be 1 to 64"),
        ({"name": ""}, "name:"),
        ({"colour": "blue"}, "unknown field 'colour'"),
        ({"visibility": ["has space"]}, "'has space' is not a group or client name"),
        ({"host": "nobody"}, "host: no user has the id 'nobody'"),
        ({"host": "a}b"}, "host: must be a user id"),
    ],
)
def test_bad_rooms_are_refused_with_a_message_naming_the_field(
    service: RoomService, change: dict[str, Any], message: str
) -> None:
    data = {"id": "blue", "name": "Blue", "time_zone": "Europe/Brussels", **change}
    with pytest.raises(InvalidRoom) as refused:
        service.create(data)
    assert message in refused.value.message
    assert service.all() == []


def test_touching_ranges_are_not_an_overlap_and_24_00_ends_a_day(service: RoomService) -> None:
    created = room(service, hours={"sunday": [["00:00", "12:00"], ["12:00", "24:00"]]})
    assert created.hours == {"sunday": [["00:00", "12:00"], ["12:00", "24:00"]]}


def test_ids_are_unique_and_unknown_rooms_are_not_found(service: RoomService) -> None:
    room(service)
    with pytest.raises(RoomExists):
        room(service)
    for action in (
        lambda: service.require("green"),
        lambda: service.update("green", {"name": "x"}, "admin"),
        lambda: service.delete("green", "admin"),
    ):
        with pytest.raises(RoomNotFound):
            action()


def test_update_changes_only_what_it_names_and_never_the_id(service: RoomService) -> None:
    created = room(service, location="Ghent")
    updated = service.update("blue", {"name": "Big blue"}, "admin")
    assert updated.name == "Big blue" and updated.location == "Ghent"
    assert updated.created == created.created and updated.updated >= created.updated
    with pytest.raises(InvalidRoom, match="cannot be changed"):
        service.update("blue", {"id": "green"}, "admin")
    with pytest.raises(InvalidRoom, match="unknown field 'created'"):
        service.update("blue", {"created": 0}, "admin")


# -- binding -------------------------------------------------------------------------------------
def test_a_host_binds_the_primary_calendar_sealed_under_the_grant(
    app: Flask, service: RoomService, sign_in: Any, alice: str, redis_contents: Any
) -> None:
    room(service, host=alice)
    gid = give(app, sign_in, alice)
    view = service.bind(alice, "blue", gid)

    assert (view.room_name, view.provider, view.calendar, view.primary) == (
        "Blue room",
        "google",
        "primary",
        True,
    )
    found = service.binding("blue")
    assert found is not None
    assert (found.uid, found.gid, found.provider, found.calendar_id) == (
        alice,
        gid,
        "google",
        "primary",
    )
    assert service.bindings_of(alice) == [view]
    assert [(e.actor, e.action, e.grant) for e in service.history("blue")] == [(alice, "bind", gid)]
    assert '"primary"' not in redis_contents()  # the calendar is sealed


def test_another_calendar_needs_a_calendar_choice_grant_of_the_same_account(
    app: Flask, service: RoomService, sign_in: Any, alice: str, redis_contents: Any
) -> None:
    room(service, host=alice)
    gid = give(app, sign_in, alice)
    with pytest.raises(BindingRefused, match="Choose which calendar"):
        service.bind(alice, "blue", gid, ALICE)
    assert service.grant_choices(alice)[0].calendars == ()

    give(app, sign_in, alice, "calendar-choice", account=BOB)  # another Google account's list
    with pytest.raises(BindingRefused):
        service.bind(alice, "blue", gid, ALICE)

    give(app, sign_in, alice, "calendar-choice")
    (choice,) = service.grant_choices(alice)
    assert choice.grant_id == gid and not choice.by_address
    names = [c.name for c in choice.calendars]
    assert names == ["Meeting room of Alice Example", "Holidays in Belgium"]
    room_calendar = choice.calendars[0].id

    view = service.bind(alice, "blue", gid, room_calendar)
    assert (view.calendar, view.primary) == ("Meeting room of Alice Example", False)
    found = service.binding("blue")
    assert found is not None and found.calendar_id == room_calendar
    assert room_calendar not in redis_contents()
    assert "Meeting room" not in redis_contents()

    # Picking the primary entry of the list stores "primary"; an id not in the list is refused.
    assert service.bind(alice, "blue", gid, ALICE).primary
    with pytest.raises(InvalidCalendar, match="not in your calendar list"):
        service.bind(alice, "blue", gid, "someone.else@example.com")
    assert [e.action for e in service.history("blue")] == ["bind", "rebind"]


def test_a_calendar_list_that_fails_to_load_is_a_clear_refusal(
    app: Flask, service: RoomService, sign_in: Any, alice: str
) -> None:
    room(service, host=alice)
    gid = give(app, sign_in, alice)
    give(app, sign_in, alice, "calendar-choice")
    state = sign_in.emulator.state  # the control API knows only state.ENDPOINTS
    with state.lock:
        state.faults["google.calendarlist"].extend([Fault(status=401), Fault(status=401)])
    (choice,) = service.grant_choices(alice)
    assert choice.calendars == () and choice.problem and "could not be loaded" in choice.problem
    with pytest.raises(CalendarListUnavailable):
        service.bind(alice, "blue", gid, "c_x@group.calendar.google.com")
    assert service.binding("blue") is None


def test_a_microsoft_host_can_type_a_room_mailbox_with_calendar_choice(
    app: Flask, service: RoomService, sign_in: Any
) -> None:
    carol = user(sign_in, CAROL, "microsoft")
    room(service, host=carol)
    gid = give(app, sign_in, carol, provider="microsoft", account=CAROL)
    with pytest.raises(BindingRefused):
        service.bind(carol, "blue", gid, "room.blue@contoso.example")
    give(app, sign_in, carol, "calendar-choice", provider="microsoft", account=CAROL)
    (choice,) = service.grant_choices(carol)
    assert choice.by_address and choice.calendars == ()

    for bad in ("not-an-address", "a@b", "a b@contoso.example", "x" * 250 + "@contoso.example"):
        with pytest.raises(InvalidCalendar, match="e-mail address"):
            service.bind(carol, "blue", gid, bad)
    view = service.bind(carol, "blue", gid, "Room.Blue@Contoso.example")
    assert view.calendar == "room.blue@contoso.example"
    found = service.binding("blue")
    assert found is not None and found.calendar_id == "room.blue@contoso.example"
    assert service.bind(carol, "blue", gid).calendar == "primary"


def test_nobody_binds_a_room_they_do_not_host_or_with_a_grant_not_theirs(
    app: Flask, service: RoomService, sign_in: Any, alice: str, bob: str, another_browser: Any
) -> None:
    room(service, "blue", host=alice)
    room(service, "green", host=bob)
    alices = give(app, sign_in, alice)
    bobs = give(app, sign_in, bob, account=BOB)
    choice = give(app, sign_in, alice, "calendar-choice")

    with pytest.raises(RoomNotFound, match="you host no room"):
        service.bind(bob, "blue", bobs)  # a room hosted by someone else: as if absent
    with pytest.raises(BindingRefused, match="not one of yours"):
        service.bind(alice, "blue", bobs)  # another user's grant
    with pytest.raises(BindingRefused, match="not for room availability"):
        service.bind(alice, "blue", choice)
    with pytest.raises(BindingRefused, match="not one of yours"):
        service.bind(alice, "blue", "../grant")
    with pytest.raises(RoomNotFound):
        service.bind(alice, "nowhere", alices)
    with pytest.raises(RoomNotFound, match="you host no room"):
        service.unbind(alice, "green")

    app.extensions["gateway"].grants.store.purge(alice, alices, status=REVOKED, reason="test")
    with pytest.raises(BindingRefused, match="not active"):
        service.bind(alice, "blue", alices)
    assert service.binding("blue") is None and service.binding("green") is None


def test_a_binding_whose_grant_is_revoked_is_unreadable_until_unbind_grant_removes_it(
    app: Flask, service: RoomService, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    room(service, "blue", host=alice)
    room(service, "green", host=alice)
    first, second = give(app, sign_in, alice), give(app, sign_in, alice)
    service.bind(alice, "blue", first)
    service.bind(alice, "green", second)

    app.extensions["gateway"].grants.store.purge(alice, first, status=REVOKED, reason="test")
    assert service.binding("blue") is None  # the grant's key is shredded
    assert service.bindings_of(alice)[0].calendar.startswith("unreadable")

    assert service.unbind_grant(alice, first, actor="admin") == 1
    assert service.unbind_grant(alice, first, actor="admin") == 0
    assert [b.room_id for b in service.bindings_of(alice)] == ["green"]
    assert not redis_client.exists(room_keys.room_bound("blue"))
    assert redis_client.smembers(keys.user_index(alice)) >= {room_keys.room_bound("green")}
    assert room_keys.room_bound("blue") not in redis_client.smembers(keys.user_index(alice))
    assert [(e.actor, e.action) for e in service.history("blue")] == [
        (alice, "bind"),
        ("admin", "grant-ended"),
    ]


def test_rebind_grant_carries_the_calendar_to_the_new_grant(
    app: Flask, service: RoomService, sign_in: Any, alice: str
) -> None:
    room(service, host=alice)
    old = give(app, sign_in, alice)
    give(app, sign_in, alice, "calendar-choice")
    calendar = service.grant_choices(alice)[0].calendars[0]
    service.bind(alice, "blue", old, calendar.id)
    new = give(app, sign_in, alice)

    assert service.rebind_grant(alice, old, new, actor=alice) == 1
    found = service.binding("blue")
    assert found is not None and (found.gid, found.calendar_id) == (new, calendar.id)
    assert service.history("blue")[-1].action == "replace-grant"
    assert service.rebind_grant(alice, old, new, actor=alice) == 0

    with pytest.raises(BindingRefused):
        service.rebind_grant(alice, new, "not-a-grant", actor=alice)
    # Grants that back no room (a calendar-choice grant replaced) change nothing.
    choice, again = give(app, sign_in, alice, "calendar-choice"), give(app, sign_in, alice)
    assert service.rebind_grant(alice, choice, again, actor=alice) == 0


def test_rebind_grant_removes_bindings_it_cannot_carry_over(
    app: Flask, service: RoomService, sign_in: Any, alice: str
) -> None:
    room(service, host=alice)
    old = give(app, sign_in, alice)
    service.bind(alice, "blue", old)
    other_account = give(app, sign_in, alice, account=BOB)
    assert service.rebind_grant(alice, old, other_account, actor=alice) == 0
    assert service.binding("blue") is None
    assert service.history("blue")[-1].action == "grant-ended"


def test_changing_the_host_or_deleting_the_room_removes_the_binding(
    app: Flask, service: RoomService, sign_in: Any, alice: str, bob: str
) -> None:
    room(service, "blue", host=alice)
    room(service, "green", host=alice)
    gid = give(app, sign_in, alice)
    service.bind(alice, "blue", gid)
    service.bind(alice, "green", gid)

    service.update("blue", {"host": bob}, "admin")
    assert service.binding("blue") is None
    assert service.hosted_by(bob)[0].id == "blue"
    assert [r.id for r in service.hosted_by(alice)] == ["green"]
    assert service.history("blue")[-1].action == "host-changed"

    service.delete("green", "admin")
    assert service.binding("green") is None and service.bindings_of(alice) == []
    assert service.history("green")[-1].action == "room-deleted"


def test_forget_user_leaves_no_key_of_theirs_about_rooms(
    app: Flask, service: RoomService, sign_in: Any, alice: str, redis_client: redis.Redis
) -> None:
    room(service, host=alice)
    service.bind(alice, "blue", give(app, sign_in, alice))
    assert service.forget_user(alice, actor="admin") == 2
    assert service.require("blue").host is None
    assert service.binding("blue") is None
    for key in redis_client.scan_iter(f"{keys.user_tag(alice)}:*"):
        assert not str(key).endswith(("hosted", "bindings")) and ":binding:" not in str(key)
    assert redis_client.get(room_keys.room("blue")) is not None
    assert alice not in str(redis_client.get(room_keys.room("blue")))


def test_revoking_or_withdrawing_through_the_gateways_one_path_unbinds(
    app: Flask, service: RoomService, sign_in: Any, alice: str
) -> None:
    found = app.extensions["gateway"]
    room(service, "blue", host=alice)
    room(service, "green", host=alice)
    first, second = give(app, sign_in, alice), give(app, sign_in, alice)
    service.bind(alice, "blue", first)
    service.bind(alice, "green", second)

    revoked = found.revocation.revoke_grant(alice, first, reason="admin", actor="admin")
    assert revoked is not None
    assert revoked["deleted"]["bindings"] == 1 and service.binding("blue") is None
    assert service.binding("green") is not None

    found.consent.withdraw(alice, "room-availability", "google")
    assert service.binding("green") is None and service.bindings_of(alice) == []


def test_a_re_consent_moves_the_binding_to_the_new_grant(
    app: Flask, service: RoomService, sign_in: Any, alice: str
) -> None:
    found = app.extensions["gateway"]
    room(service, host=alice)
    old = give(app, sign_in, alice)
    give(app, sign_in, alice, "calendar-choice")
    calendar = service.grant_choices(alice)[0].calendars[0]
    service.bind(alice, "blue", old, calendar.id)

    identity = authorize(app, sign_in, "google", ALICE, FREEBUSY)
    found.consent.on_authorized(alice, "room-availability", identity)
    bound = service.binding("blue")
    assert bound is not None and bound.gid != old and bound.calendar_id == calendar.id
    assert found.grants.get(alice, old) is None  # the old grant is gone

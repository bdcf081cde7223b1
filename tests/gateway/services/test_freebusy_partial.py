"""A room whose calendars could be read for part of the asked range only.

Any one calendar failing makes the room `unknown` for the affected span, never free, and
only there: outside that span its busy time is exact. The room's status stays `unknown` (a
frontend that switches on it never reads the room as free), its `unknown` spans say where,
and busy time is published only outside them. The failing part is made the way it happens:
the days already asked for are cached, and the provider fails for the next day.
Real Redis and the emulator over HTTPS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from gateway.blueprints.api_models import FreeBusyResponse
from gateway.services.intervals import Interval, clip, free_slots
from tests.hosts import FRONTEND, PLANTED, Hosts

ALICE, CAROL = "alice@example.com", "carol@contoso.example"
TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = (datetime(2026, 11, d, tzinfo=UTC) for d in (24, 25, 26, 27))


@pytest.fixture
def app(build_gateway: Any, make_env: Any) -> Flask:
    """A provider deadline short enough for the failures, long enough on a busy machine."""
    return build_gateway(make_env(GATEWAY_FREEBUSY_DEADLINE_SECONDS="5"))


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ask(hosts: Hosts, start: datetime, end: datetime, granularity: int = 0) -> Any:
    answer = hosts.services.freebusy.query(FRONTEND, ["atlas"], start, end, granularity)
    return answer, answer.rooms["atlas"]


def spans(intervals: Any) -> list[tuple[str, str]]:
    return [(i.start.isoformat(), i.end.isoformat()) for i in intervals]


def reported_free(hosts: Hosts, found: Any, start: datetime, end: datetime) -> list[Interval]:
    """What a frontend may book: bookable hours less busy time less the unknown spans."""
    room = hosts.services.freebusy.rooms.get("atlas")
    windows = hosts.services.freebusy.bookable(room, start, end)
    return free_slots([*found.busy, *found.unknown], windows, duration=timedelta(microseconds=1))


def two_calendars(hosts: Hosts) -> None:
    """Room atlas, backed by Alice's Google calendar and her Microsoft mailbox, with a
    meeting on each calendar on each of Tuesday, Wednesday and Thursday."""
    uid, own = hosts.host("google", ALICE)
    mailbox = hosts.another_account(uid, "microsoft", CAROL)
    hosts.room("atlas", uid, own)
    hosts.services.rooms.add_calendar(uid, "atlas", mailbox)
    for day in ("24", "25", "26"):
        hosts.event(ALICE, f"2026-11-{day}T09:00:00Z", f"2026-11-{day}T10:00:00Z")
        hosts.event(CAROL, f"2026-11-{day}T14:00:00Z", f"2026-11-{day}T15:00:00Z")


def test_one_calendar_failing_for_a_day_leaves_the_others_exact(app: Flask, hosts: Hosts) -> None:
    two_calendars(hosts)
    _, warm = ask(hosts, TUESDAY, THURSDAY)  # Tuesday and Wednesday are cached now
    assert warm.status == "ok"
    hosts.emulator.client.fault("microsoft.getschedule", status=503, times=-1)

    answer, found = ask(hosts, TUESDAY, FRIDAY)  # Thursday: Google answers, Graph fails

    assert found.status == "unknown"
    assert spans(found.unknown) == [("2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+00:00")]
    assert spans(found.busy) == [
        ("2026-11-24T09:00:00+00:00", "2026-11-24T10:00:00+00:00"),
        ("2026-11-24T14:00:00+00:00", "2026-11-24T15:00:00+00:00"),
        ("2026-11-25T09:00:00+00:00", "2026-11-25T10:00:00+00:00"),
        ("2026-11-25T14:00:00+00:00", "2026-11-25T15:00:00+00:00"),
    ]
    # Google's Thursday meeting, read fine, is inside the unknown span: never free, and not
    # published as the room's busy time as if Google's calendar were the whole room
    thursday_meeting = Interval(at("2026-11-26T09:00:00Z"), at("2026-11-26T10:00:00Z"))
    assert clip([thursday_meeting], reported_free(hosts, found, TUESDAY, FRIDAY)) == []
    assert clip([thursday_meeting], found.busy) == []
    # the failing calendar's own Thursday meeting is never free either
    graph_meeting = Interval(at("2026-11-26T14:00:00Z"), at("2026-11-26T15:00:00Z"))
    assert clip([graph_meeting], reported_free(hosts, found, TUESDAY, FRIDAY)) == []

    shown = json.loads(answer.encoded)
    FreeBusyResponse.model_validate(shown)
    assert shown["rooms"]["atlas"]["unknown"] == [
        {"start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z"}
    ]
    assert not [marker for marker in PLANTED if marker in answer.encoded]

    hosts.emulator.client.clear_faults()
    _, recovered = ask(hosts, TUESDAY, FRIDAY)
    assert recovered.status == "ok" and recovered.unknown == ()
    assert len(recovered.busy) == 6


def test_the_unknown_span_is_clipped_to_the_asked_range_and_busy_to_the_known_part(
    app: Flask, hosts: Hosts
) -> None:
    two_calendars(hosts)
    ask(hosts, TUESDAY, THURSDAY)
    hosts.emulator.client.fault("microsoft.getschedule", status=503, times=-1)
    start, end = at("2026-11-25T12:00:00Z"), at("2026-11-26T12:00:00Z")

    _, found = ask(hosts, start, end, granularity=60)

    assert found.status == "unknown"
    assert spans(found.unknown) == [("2026-11-26T00:00:00+00:00", "2026-11-26T12:00:00+00:00")]
    assert spans(found.busy) == [("2026-11-25T14:00:00+00:00", "2026-11-25T15:00:00+00:00")]
    free = reported_free(hosts, found, start, end)
    assert spans(free) == [
        ("2026-11-25T12:00:00+00:00", "2026-11-25T14:00:00+00:00"),
        ("2026-11-25T15:00:00+00:00", "2026-11-25T18:00:00+00:00"),
    ]


def test_a_single_calendar_failing_for_a_day_is_unknown_only_that_day(
    app: Flask, hosts: Hosts
) -> None:
    uid, own = hosts.host("google", ALICE)
    hosts.room("atlas", uid, own)
    hosts.event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.event(ALICE, "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z")
    ask(hosts, WEDNESDAY, THURSDAY)
    hosts.emulator.client.fault("google.freebusy", status=500, times=-1)

    _, found = ask(hosts, WEDNESDAY, FRIDAY)

    assert found.status == "unknown"
    assert spans(found.busy) == [("2026-11-25T09:00:00+00:00", "2026-11-25T10:00:00+00:00")]
    assert spans(found.unknown) == [("2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+00:00")]
    hosts.emulator.client.clear_faults()
    assert ask(hosts, WEDNESDAY, FRIDAY)[1].status == "ok"


def test_a_room_read_for_no_part_of_the_range_is_unknown_for_all_of_it(
    app: Flask, hosts: Hosts
) -> None:
    two_calendars(hosts)
    hosts.emulator.client.fault("microsoft.getschedule", status=503, times=-1)

    answer, found = ask(hosts, WEDNESDAY, THURSDAY)

    assert found.status == "unknown" and found.busy == ()
    assert spans(found.unknown) == [(WEDNESDAY.isoformat(), THURSDAY.isoformat())]
    assert json.loads(answer.encoded)["rooms"]["atlas"]["unknown"] == [
        {"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z"}
    ]


def test_slots_stay_empty_while_any_part_is_unknown(app: Flask, hosts: Hosts) -> None:
    """The slots answer has no unknown spans to say where: it offers nothing until the
    whole range is known, as before."""
    two_calendars(hosts)
    ask(hosts, TUESDAY, THURSDAY)
    hosts.emulator.client.fault("microsoft.getschedule", status=503, times=-1)
    found, free = hosts.services.freebusy.slots(
        FRONTEND, "atlas", TUESDAY, FRIDAY, timedelta(hours=1)
    )
    assert found.status == "unknown" and free == []

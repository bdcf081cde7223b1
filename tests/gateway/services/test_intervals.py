"""Published time: merged, clipped to bookable hours across DST and midnight, rounded out."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from gateway.services.intervals import (
    Interval,
    bookable_windows,
    clip,
    free_slots,
    merge,
    publishable,
    round_outward,
)

BERLIN = ZoneInfo("Europe/Berlin")
WORKDAY = {
    day: [["08:00", "18:00"]] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def span(start: str, end: str) -> Interval:
    return Interval(utc(start), utc(end))


def test_overlapping_and_touching_busy_times_merge() -> None:
    busy = [
        span("2026-11-25T10:00", "2026-11-25T11:00"),
        span("2026-11-25T09:00", "2026-11-25T10:00"),
    ]
    busy.append(span("2026-11-25T10:30", "2026-11-25T12:00"))
    assert merge(busy) == [span("2026-11-25T09:00", "2026-11-25T12:00")]


def test_bookable_hours_follow_the_room_time_zone_in_winter() -> None:
    windows = bookable_windows(WORKDAY, BERLIN, utc("2026-11-25T00:00"), utc("2026-11-26T00:00"))
    assert windows == [span("2026-11-25T07:00", "2026-11-25T17:00")]  # CET is UTC+1


def test_spring_forward_day_keeps_local_opening_hours() -> None:
    hours = {"sunday": [["01:00", "05:00"]]}
    windows = bookable_windows(hours, BERLIN, utc("2026-03-29T00:00"), utc("2026-03-30T00:00"))
    # 01:00 CET = 00:00 UTC; 05:00 CEST = 03:00 UTC: a three-hour window on a 23-hour day.
    assert windows == [span("2026-03-29T00:00", "2026-03-29T03:00")]


def test_fall_back_day_keeps_local_opening_hours() -> None:
    hours = {"sunday": [["01:00", "05:00"]]}
    windows = bookable_windows(hours, BERLIN, utc("2026-10-24T22:00"), utc("2026-10-26T00:00"))
    # 01:00 CEST = 23:00 UTC the day before; 05:00 CET = 04:00 UTC: five hours.
    assert windows == [span("2026-10-24T23:00", "2026-10-25T04:00")]


def test_an_event_across_midnight_is_split_by_bookable_hours() -> None:
    hours = {
        "wednesday": [["20:00", "24:00"]],
        "thursday": [["00:00", "02:00"], ["08:00", "18:00"]],
    }
    windows = bookable_windows(hours, BERLIN, utc("2026-11-25T00:00"), utc("2026-11-27T00:00"))
    busy = [span("2026-11-25T21:00", "2026-11-26T09:00")]  # 22:00 Wed to 10:00 Thu local
    assert publishable(busy, windows) == [
        span("2026-11-25T21:00", "2026-11-26T01:00"),  # joined across local midnight
        span("2026-11-26T07:00", "2026-11-26T09:00"),
    ]


def test_nothing_outside_bookable_hours_is_published() -> None:
    windows = [span("2026-11-25T07:00", "2026-11-25T17:00")]
    busy = [
        span("2026-11-25T05:00", "2026-11-25T06:00"),
        span("2026-11-25T16:30", "2026-11-25T19:00"),
    ]
    assert publishable(busy, windows) == [span("2026-11-25T16:30", "2026-11-25T17:00")]


def test_rounding_widens_to_the_grid_but_stays_inside_bookable_hours() -> None:
    windows = [span("2026-11-25T07:00", "2026-11-25T17:00")]
    busy = [
        span("2026-11-25T09:10", "2026-11-25T09:20"),
        span("2026-11-25T16:50", "2026-11-25T16:55"),
    ]
    assert publishable(busy, windows, 30) == [
        span("2026-11-25T09:00", "2026-11-25T09:30"),
        span("2026-11-25T16:30", "2026-11-25T17:00"),
    ]


def test_free_slots_are_the_long_enough_gaps() -> None:
    windows = [span("2026-11-25T07:00", "2026-11-25T17:00")]
    busy = [
        span("2026-11-25T08:00", "2026-11-25T09:00"),
        span("2026-11-25T09:20", "2026-11-25T16:00"),
    ]
    assert free_slots(busy, windows, timedelta(minutes=30)) == [
        span("2026-11-25T07:00", "2026-11-25T08:00"),
        span("2026-11-25T16:00", "2026-11-25T17:00"),
    ]


BASE = utc("2026-11-25T00:00")
intervals = st.lists(
    st.tuples(st.integers(0, 2880), st.integers(0, 600)).map(
        lambda t: Interval(BASE + timedelta(minutes=t[0]), BASE + timedelta(minutes=t[0] + t[1]))
    ),
    max_size=20,
)


@given(intervals)
def test_merged_intervals_are_sorted_and_apart(items: list[Interval]) -> None:
    merged = merge(items)
    assert all(a.end < b.start for a, b in itertools.pairwise(merged))
    covered = sum((i.duration for i in merged), timedelta())
    assert covered <= sum((i.duration for i in items), timedelta())


@given(intervals, intervals, st.sampled_from([0, 5, 15, 30, 60]))
def test_published_time_never_leaves_the_windows(
    busy: list[Interval], windows: list[Interval], minutes: int
) -> None:
    for item in publishable(busy, windows, minutes):
        assert any(w.start <= item.start and item.end <= w.end for w in merge(windows))


@given(intervals, st.sampled_from([5, 15, 30, 60]))
def test_rounding_only_widens(items: list[Interval], minutes: int) -> None:
    rounded = round_outward(items, minutes)
    for item in merge(items):
        assert any(r.start <= item.start and item.end <= r.end for r in rounded)


@given(intervals, intervals)
def test_free_and_busy_never_overlap(busy: list[Interval], windows: list[Interval]) -> None:
    for slot in free_slots(busy, windows, timedelta(minutes=1)):
        assert not clip([slot], busy)

"""getSchedule's availabilityView: each slot's digit is what the slot-by-slot definition
gives (the first planted code of the events overlapping it, else their highest digit,
else 0), for any events, window and interval; the emulator computes it event by event."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from emulator.calendar_graph import VIEW_DIGIT, availability_view
from emulator.records import Event

BASE = datetime(2026, 11, 25, tzinfo=UTC)
minutes = st.integers(min_value=-120, max_value=3 * 24 * 60)


def slot_by_slot(inside: list[Event], start: datetime, end: datetime, interval: int) -> str:
    """The definition, one slot at a time."""
    view = []
    for n in range(math.ceil((end - start) / timedelta(minutes=interval))):
        low = start + timedelta(minutes=interval * n)
        high = min(low + timedelta(minutes=interval), end)
        covering = [e for e in inside if e.start < high and e.end > low]
        planted = [e.view_code for e in covering if e.view_code is not None]
        digits = [VIEW_DIGIT[e.show_as] for e in covering if e.view_code is None]
        view.append(planted[0] if planted else str(max(digits, default=0)))
    return "".join(view)


@st.composite
def events(draw: st.DrawFn) -> Event:
    begin = draw(minutes)
    length = draw(st.integers(min_value=1, max_value=600))
    return Event(
        owner="room@contoso.example",
        calendar="primary",
        start=BASE + timedelta(minutes=begin, seconds=draw(st.sampled_from([0, 1, 59]))),
        end=BASE + timedelta(minutes=begin + length),
        summary=None,
        location=None,
        attendees=(),
        show_as=draw(st.sampled_from(sorted(VIEW_DIGIT))),
        view_code=draw(st.sampled_from([None, None, None, "7", "2"])),
    )


@given(
    st.lists(events(), max_size=6),
    st.integers(min_value=0, max_value=600),
    st.integers(min_value=1, max_value=2 * 24 * 60),
    st.sampled_from([5, 7, 30, 60, 90, 1440]),
)
def test_the_view_is_the_slot_by_slot_definition(
    found: list[Event], offset: int, length: int, interval: int
) -> None:
    start = BASE + timedelta(minutes=offset)
    end = start + timedelta(minutes=length)
    inside = sorted((e for e in found if e.start < end and e.end > start), key=lambda e: e.start)

    assert availability_view(inside, start, end, interval) == slot_by_slot(
        inside, start, end, interval
    )

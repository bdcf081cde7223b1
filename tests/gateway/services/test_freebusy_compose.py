"""Bookable windows are computed once per opening hours and range, shared by rooms alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from gateway.services.freebusy_compose import Composer
from gateway.services.freebusy_freshness import Freshness
from gateway.services.intervals import Interval
from gateway.services.room_model import Room

DAY = (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC))
OFFICE = {"wednesday": [["08:00", "18:00"]]}


def room(room_id: str, zone: str = "Europe/Brussels", **changed: Any) -> Room:
    return Room.model_validate(
        {"id": room_id, "name": room_id, "time_zone": zone, "hours": OFFICE}
        | changed
        | {"created": time.time(), "updated": time.time()}
    )


def test_rooms_with_the_same_hours_share_their_windows_and_others_get_their_own() -> None:
    composer = Composer(Freshness(ttl_seconds=120, stale_seconds=600))
    atlas, borealis = room("atlas"), room("borealis")
    lisbon = room("lisbon", zone="Europe/Lisbon")
    late = room("late", hours={"wednesday": [["10:00", "20:00"]]})
    closed = room("closed", exceptions=[{"date": "2026-11-25", "hours": []}])

    shared = composer.bookable(atlas, *DAY)

    assert shared == [
        Interval(datetime(2026, 11, 25, 7, tzinfo=UTC), datetime(2026, 11, 25, 17, tzinfo=UTC))
    ]
    assert composer.bookable(borealis, *DAY) is shared  # computed once for both
    assert composer.bookable(lisbon, *DAY) == [
        Interval(datetime(2026, 11, 25, 8, tzinfo=UTC), datetime(2026, 11, 25, 18, tzinfo=UTC))
    ]
    assert composer.bookable(late, *DAY)[0].start == datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert composer.bookable(closed, *DAY) == []
    # the same room with its hours changed (a new version) is not served the old windows
    moved = room("atlas", hours={"wednesday": [["12:00", "13:00"]]})
    assert composer.bookable(moved, *DAY) == [
        Interval(datetime(2026, 11, 25, 11, tzinfo=UTC), datetime(2026, 11, 25, 12, tzinfo=UTC))
    ]

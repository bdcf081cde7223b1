"""The room finder for signed-in members: which rooms are free now, which are free from T for
D minutes, and each room's day and week, drawn to scale in the room's time zone (or the one
the viewer picks). Busy blocks only, as the booking frontend sees them.

Server-rendered GET forms, no script (the CSP allows none): every control is a link, a
button or a labelled field, so it works by keyboard and with a screen reader as it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request
from werkzeug.datastructures import MultiDict

from gateway.blueprints.guards import signed_in_uid
from gateway.context import services
from gateway.services.callers import user_caller
from gateway.services.intervals import SUPPORTED_RANGE
from gateway.services.room_finder import RoomFinder, in_range
from gateway.services.room_hours import MAX_CAPACITY, parse_date, time_zones
from gateway.services.room_model import ROOM_ID
from gateway.services.room_search import FREE, RoomFilter, RoomSearch
from gateway.services.room_status import WORDS

availability = Blueprint("availability", __name__)

BADGE_MINUTES = (15, 30, 60, 120)
DURATIONS = (15, 30, 45, 60, 90, 120, 180, 240)
BADGE_TEXT = {
    FREE: "Now: free for the next {n} min",
    "busy": "Now: busy within the next {n} min",
    "closed": "Now: not bookable for all of the next {n} min",
}


def _day(raw: str, zone: ZoneInfo) -> date:
    if not raw:
        return datetime.now(zone).date()
    try:
        day = parse_date(raw)
    except ValueError:
        abort(400, "day must be a date such as 2026-11-25")
    if not in_range(day):
        abort(400, f"day must lie {SUPPORTED_RANGE}")
    return day


def _zone(raw: str) -> ZoneInfo | None:
    raw = raw.strip()
    if not raw:
        return None
    if raw not in time_zones():
        abort(400, "the time zone must be an IANA name such as Europe/London")
    return ZoneInfo(raw)


def _choice(raw: str | None, allowed: tuple[int, ...], default: int) -> int:
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = -1
    if value not in allowed:
        abort(400, f"choose one of {', '.join(map(str, allowed))} minutes")
    return value


def _filter(args: MultiDict[str, str]) -> RoomFilter:
    raw = args.get("capacity", "").strip()
    capacity = None
    if raw:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_CAPACITY:
            abort(400, f"capacity must be a whole number from 1 to {MAX_CAPACITY}")
        capacity = int(raw)
    equipment = tuple(e.strip()[:40] for e in args.getlist("equipment") if e.strip())[:30]
    return RoomFilter(capacity, args.get("location", "").strip()[:200], equipment)


@availability.get("/rooms")
def rooms_page() -> str:
    caller = user_caller(signed_in_uid())
    freebusy = services().freebusy
    chosen = _zone(request.args.get("tz", ""))
    everyone = sorted(freebusy.visible_rooms(caller), key=lambda r: r.name.casefold())
    zones = sorted({r.time_zone for r in everyone})
    # T of "find a room" is read in the chosen zone, else the rooms' one zone, else UTC
    find_zone = chosen or ZoneInfo(zones[0] if len(zones) == 1 else "UTC")
    day = _day(request.args.get("day", ""), chosen or find_zone)
    minutes = _choice(request.args.get("minutes"), BADGE_MINUTES, 30)
    wanted = _filter(request.args)
    rooms = [r for r in everyone if wanted.matches(r)]
    plans = RoomFinder(freebusy).plans(
        caller, rooms, day, 1, lambda room: chosen or ZoneInfo(room.time_zone)
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    searcher = RoomSearch(freebusy)
    ahead = searcher.states(caller, rooms, now, now + timedelta(minutes=minutes))
    badges = {s.room.id: s for s in ahead}
    found = _find(searcher, caller, rooms, find_zone)
    return render_template(
        "rooms.html",
        rooms=rooms,
        shown=len(everyone),
        plans=plans,
        badges=badges,
        badge_text=BADGE_TEXT,
        status_words=WORDS,
        minutes=minutes,
        badge_minutes=BADGE_MINUTES,
        durations=DURATIONS,
        day=day,
        today=datetime.now(chosen or find_zone).date(),
        tz=chosen.key if chosen else "",
        find_zone=find_zone.key,
        zones=sorted(time_zones()),
        wanted=wanted,
        equipment_choices=sorted({e.casefold(): e for r in everyone for e in r.equipment}.values()),
        found=found,
        args=request.args,
        wanted_equipment={e.casefold() for e in wanted.equipment},
        links={
            "previous": _with(day=day - timedelta(days=1)),
            "today": _with(day=datetime.now(chosen or find_zone).date()),
            "next": _with(day=day + timedelta(days=1)),
        },
    )


def _with(**changes: date) -> str | None:
    """This page's URL with the request's parameters and `changes` (None: out of range)."""
    if not all(in_range(d) for d in changes.values()):
        return None
    args = MultiDict(request.args)
    for name, value in changes.items():
        args.setlist(name, [value.isoformat()])
    return f"{request.path}?{urlencode(list(args.items(multi=True)))}"


def _find(searcher: RoomSearch, caller: Any, rooms: list[Any], zone: ZoneInfo) -> Any:
    """The rooms free from T for D minutes, when the form asked; None when it did not."""
    raw_day, raw_time = request.args.get("from_day", ""), request.args.get("from_time", "")
    if not raw_day and not raw_time:
        return None
    if not raw_day or not raw_time:
        abort(400, "give both the day and the time to start from")
    try:
        day = parse_date(raw_day)
        clock = time.fromisoformat(raw_time)
    except ValueError:
        abort(400, "the start must be a day such as 2026-11-25 and a time such as 09:30")
    if not in_range(day):
        abort(400, f"the day must lie {SUPPORTED_RANGE}")
    duration = _choice(request.args.get("duration"), DURATIONS, 60)
    start = datetime.combine(day, clock.replace(second=0, microsecond=0), tzinfo=zone)
    start = start.astimezone(UTC)
    end = start + timedelta(minutes=duration)
    free = [s for s in searcher.states(caller, rooms, start, end) if s.free]
    return {"start": start, "end": end, "zone": zone, "duration": duration, "rooms": free}


@availability.get("/rooms/<room_id>/availability")
def room_page(room_id: str) -> str:
    caller = user_caller(signed_in_uid())
    freebusy = services().freebusy
    room = freebusy.rooms.get(room_id) if ROOM_ID.match(room_id) else None
    if room is None or not caller.can_see(room.id, room.visibility, room.host):
        abort(404, "There is no room with that id, or you may not see it.")
    chosen = _zone(request.args.get("tz", ""))
    zone = chosen or ZoneInfo(room.time_zone)
    view = request.args.get("view", "week")
    if view not in ("day", "week"):
        abort(400, "view must be day or week")
    day = _day(request.args.get("date", ""), zone)
    first = day - timedelta(days=day.weekday()) if view == "week" else day
    if not in_range(first):
        abort(400, f"date must lie {SUPPORTED_RANGE}")
    count = 7 if view == "week" else 1
    step = timedelta(days=count)
    days = RoomFinder(freebusy).days(caller, room, first, count, zone)
    return render_template(
        "room_availability.html",
        room=room,
        days=days,
        view=view,
        day=day,
        first=first,
        links={
            "previous": _with(date=first - step),
            "today": _with(date=datetime.now(zone).date()),
            "next": _with(date=first + step),
        },
        today=datetime.now(zone).date(),
        zone=zone.key,
        tz=chosen.key if chosen else "",
        zones=sorted(time_zones()),
        other_view=_view_link("day" if view == "week" else "week"),
        room_zone_link=_view_link(view, without="tz"),
        status_words=WORDS,
    )


def _view_link(view: str, without: str = "") -> str:
    args = MultiDict(request.args)
    args.setlist("view", [view])
    args.poplist(without)
    return f"{request.path}?{urlencode(list(args.items(multi=True)))}"

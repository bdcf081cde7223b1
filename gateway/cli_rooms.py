"""Admin commands for the room registry: `flask --app gateway rooms create|update|delete|list|show`.

Bookable hours are JSON (`{"monday": [["09:00", "17:00"]]}`) or the short form
`mon-fri=09:00-12:00,13:00-17:00;sat=10:00-14:00`; date exceptions JSON
(`[{"date": "2026-12-25", "hours": []}]`) or `2026-12-25=;2026-12-24=08:00-12:00` (nothing
after `=`: closed that day).
"""

from __future__ import annotations

import json
from typing import Any

import click

from gateway.cli_errors import CliGroup
from gateway.context import services
from gateway.services.room_model import WEEKDAYS, RoomError, room_json
from gateway.services.rooms import RoomService

rooms_cli = CliGroup("rooms", help="Bookable rooms: their hours, host and visibility.")
ACTOR = "cli"
SHORT_DAYS = [day[:3] for day in WEEKDAYS]


def _service() -> RoomService:
    found: RoomService = services().rooms
    return found


def parse_hours(text: str) -> dict[str, Any]:
    """JSON, or `mon-fri=09:00-17:00;sat=10:00-12:00,13:00-15:00`."""
    text = text.strip()
    if text.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise click.BadParameter("not valid JSON") from None
        if not isinstance(parsed, dict):
            raise click.BadParameter("must be a JSON object of weekday -> ranges")
        return parsed
    hours: dict[str, list[list[str]]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        days, sep, ranges = part.partition("=")
        if not sep:
            raise click.BadParameter(f"{part!r}: write DAYS=HH:MM-HH:MM[,HH:MM-HH:MM]")
        for day in _days(days.strip().lower()):
            for window in ranges.split(","):
                start, dash, end = window.strip().partition("-")
                if not dash:
                    raise click.BadParameter(f"{window.strip()!r}: write HH:MM-HH:MM")
                hours.setdefault(day, []).append([start.strip(), end.strip()])
    return hours


def parse_exceptions(text: str) -> list[Any]:
    """JSON, or `2026-12-25=;2026-12-24=08:00-12:00,13:00-15:00` (empty: closed)."""
    text = text.strip()
    if text.startswith(("[", "{")):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise click.BadParameter("not valid JSON") from None
        if not isinstance(parsed, list):
            raise click.BadParameter('must be a JSON list of {"date", "hours"}')
        return parsed
    found: list[Any] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        day, sep, ranges = part.partition("=")
        if not sep:
            raise click.BadParameter(f"{part!r}: write YYYY-MM-DD=[HH:MM-HH:MM,...]")
        hours = []
        for window in filter(None, (w.strip() for w in ranges.split(","))):
            start, dash, end = window.partition("-")
            if not dash:
                raise click.BadParameter(f"{window!r}: write HH:MM-HH:MM")
            hours.append([start.strip(), end.strip()])
        found.append({"date": day.strip(), "hours": hours})
    return found


def _days(spec: str) -> list[str]:
    first, dash, last = spec.partition("-")
    for day in (first, last) if dash else (first,):
        if day not in SHORT_DAYS:
            raise click.BadParameter(f"{day!r} is not a weekday (mon, tue ... sun)")
    if not dash:
        return [WEEKDAYS[SHORT_DAYS.index(first)]]
    low, high = SHORT_DAYS.index(first), SHORT_DAYS.index(last)
    if low > high:
        raise click.BadParameter(f"{spec!r}: the days run backwards")
    return list(WEEKDAYS[low : high + 1])


def _fields(
    name: str | None,
    location: str | None,
    time_zone: str | None,
    hours: str | None,
    host: str | None,
    visibility: str | None,
    exceptions: str | None = None,
    capacity: str | None = None,
    equipment: str | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    if location is not None:
        fields["location"] = location
    if time_zone is not None:
        fields["time_zone"] = time_zone
    if hours is not None:
        fields["hours"] = parse_hours(hours)
    if exceptions is not None:
        fields["exceptions"] = parse_exceptions(exceptions)
    if capacity is not None:
        fields["capacity"] = _capacity(capacity)
    if equipment is not None:
        fields["equipment"] = [e.strip() for e in equipment.split(",") if e.strip()]
    if host is not None:
        fields["host"] = host or None  # --host "" removes the host
    if visibility is not None:
        fields["visibility"] = [v.strip() for v in visibility.split(",") if v.strip()]
    return fields


def _capacity(text: str) -> int | None:
    """--capacity 12; --capacity "" removes it."""
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a whole number of seats") from None


def _echo_room(room_id: str) -> None:
    rooms = _service()
    room = rooms.require(room_id)
    calendars = rooms.calendars_behind(room_id)
    shown = room_json(room, bound=rooms.is_bound(room_id), calendars=calendars)
    click.echo(json.dumps(shown, indent=2))


def room_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--name", help="What people see, e.g. 'Blue meeting room'."),
            click.option("--location", help="Where it is, e.g. 'Brussels, 3rd floor'."),
            click.option("--time-zone", help="IANA time zone, e.g. Europe/Brussels."),
            click.option("--hours", help="Bookable hours: JSON or mon-fri=09:00-17:00;..."),
            click.option(
                "--exceptions",
                help="Date exceptions: JSON or 2026-12-25=;2026-12-24=08:00-12:00 (replaces all).",
            ),
            click.option("--capacity", help="Seats ('' for none)."),
            click.option("--equipment", help="Comma-separated, e.g. projector,whiteboard."),
            click.option("--host", help="User id of the host ('' for none)."),
            click.option(
                "--visibility",
                help="Comma-separated audiences: members (every signed-in person; the "
                'default of a new room), API client groups or names; "" for its host only.',
            ),
        ]
    ):
        command = option(command)
    return command


@rooms_cli.command("create")
@click.argument("room_id")
@room_options
def rooms_create(room_id: str, **options: str | None) -> None:
    """Add room ROOM_ID (a slug: a-z, 0-9, '-')."""
    try:
        _service().create({"id": room_id, **_fields(**options)}, actor=ACTOR)
    except RoomError as error:
        raise click.ClickException(error.message) from None
    _echo_room(room_id)


@rooms_cli.command("update")
@click.argument("room_id")
@room_options
def rooms_update(room_id: str, **options: str | None) -> None:
    """Change the given fields of room ROOM_ID."""
    changes = _fields(**options)
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    try:
        _service().update(room_id, changes, actor=ACTOR)
    except RoomError as error:
        raise click.ClickException(error.message) from None
    _echo_room(room_id)


@rooms_cli.command("delete")
@click.argument("room_id")
@click.confirmation_option(prompt="Delete the room and disconnect its calendar?")
def rooms_delete(room_id: str) -> None:
    """Delete room ROOM_ID and its binding."""
    try:
        _service().delete(room_id, actor=ACTOR)
    except RoomError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"deleted {room_id}")


@rooms_cli.command("list")
def rooms_list() -> None:
    """One line per room: id, time zone, host, bound or not, name."""
    rooms = _service()
    for room in rooms.all():
        bound = "bound" if rooms.is_bound(room.id) else "unbound"
        click.echo(f"{room.id}\t{room.time_zone}\t{room.host or '-'}\t{bound}\t{room.name}")


@rooms_cli.command("show")
@click.argument("room_id")
def rooms_show(room_id: str) -> None:
    """Room ROOM_ID as JSON."""
    try:
        _echo_room(room_id)
    except RoomError as error:
        raise click.ClickException(error.message) from None

"""Room commands: create, update, show, list and delete from the command line."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from flask import Flask

from gateway.cli_rooms import parse_hours
from gateway.services.rooms import RoomService
from tests.gateway.services.test_rooms import ALICE, give, user, wire_rooms


@pytest.fixture(autouse=True)
def service(app: Flask) -> RoomService:
    return wire_rooms(app)


def rooms(app: Flask, *args: str, **kwargs: Any) -> Any:
    return app.test_cli_runner().invoke(args=["rooms", *args], **kwargs)


def test_create_show_update_list_and_delete(app: Flask, service: RoomService) -> None:
    created = rooms(
        app,
        "create",
        "blue",
        "--name",
        "Blue room",
        "--location",
        "Ghent",
        "--time-zone",
        "Europe/Brussels",
        "--hours",
        "mon-fri=09:00-12:00,13:00-17:00;sat=10:00-14:00",
        "--visibility",
        "staff, frontend",
    )
    assert created.exit_code == 0, created.output
    shown = json.loads(created.output)
    assert shown["hours"]["wednesday"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert shown["hours"]["saturday"] == [["10:00", "14:00"]] and "sunday" not in shown["hours"]
    assert shown["visibility"] == ["frontend", "staff"] and shown["bound"] is False

    updated = rooms(app, "update", "blue", "--hours", '{"monday": [["08:00", "10:00"]]}')
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.output)["hours"] == {"monday": [["08:00", "10:00"]]}
    assert json.loads(rooms(app, "show", "blue").output)["location"] == "Ghent"

    listed = rooms(app, "list")
    assert listed.output == "blue\tEurope/Brussels\t-\tunbound\tBlue room\n"

    assert rooms(app, "delete", "blue", "--yes").output == "deleted blue\n"
    assert service.all() == []


def test_a_host_set_from_the_cli_can_bind_and_deleting_unbinds(
    app: Flask, sign_in: Any, service: RoomService
) -> None:
    alice = user(sign_in, ALICE)
    result = rooms(app, "create", "blue", "--name", "Blue", "--time-zone", "UTC", "--host", alice)
    assert result.exit_code == 0, result.output
    service.bind(alice, "blue", give(app, sign_in, alice))
    assert "\tbound\t" in rooms(app, "list").output
    assert rooms(app, "update", "blue", "--host", "").exit_code == 0
    assert service.binding("blue") is None
    assert service.history("blue")[-1].actor == "cli"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["create", "blue", "--name", "B", "--time-zone", "Nowhere/City"], "IANA time zone"),
        (["create", "Blue", "--name", "B", "--time-zone", "UTC"], "lower-case"),
        (["create", "blue", "--time-zone", "UTC"], "'name' is required"),
        (["create", "blue", "--name", "B", "--time-zone", "UTC", "--hours", "mon=9-5"], "HH:MM"),
        (["update", "green", "--name", "G"], "there is no room 'green'"),
        (["update", "blue"], "nothing to change"),
        (["show", "green"], "there is no room 'green'"),
        (["delete", "green", "--yes"], "there is no room 'green'"),
    ],
)
def test_mistakes_are_one_clear_line_and_a_nonzero_exit(
    app: Flask, args: list[str], words: str
) -> None:
    result = rooms(app, *args)
    assert result.exit_code != 0
    assert words in result.output


def test_an_existing_id_is_refused(app: Flask) -> None:
    args = ["create", "blue", "--name", "B", "--time-zone", "UTC"]
    assert rooms(app, *args).exit_code == 0
    again = rooms(app, *args)
    assert again.exit_code == 1 and "exists already" in again.output


def test_delete_asks_first(app: Flask, service: RoomService) -> None:
    rooms(app, "create", "blue", "--name", "B", "--time-zone", "UTC")
    assert rooms(app, "delete", "blue", input="n\n").exit_code == 1
    assert service.get("blue") is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon=09:00", "HH:MM-HH:MM"),
        ("funday=09:00-10:00", "not a weekday"),
        ("fri-mon=09:00-10:00", "backwards"),
        ("mon 09:00-10:00", "DAYS="),
        ("[1, 2]", "JSON object"),
        ("{nope", "not valid JSON"),
    ],
)
def test_parse_hours_names_the_mistake(text: str, message: str) -> None:
    with pytest.raises(click.BadParameter, match=message):
        parse_hours(text)


def test_parse_hours_short_form() -> None:
    assert parse_hours("sat-sun=10:00-12:00") == {
        "saturday": [["10:00", "12:00"]],
        "sunday": [["10:00", "12:00"]],
    }

"""Every route that parses a time answers a 4xx in the one error shape, never a 500, for
times at the edges of Python's range (years 1 and 9999) and offsets at the edges of what
RFC 3339 can write (±23:59): the arithmetic behind them steps past the asked window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.services.api_clients import ApiClientService

EDGE_YEARS = (1, 2, 1969, 1970, 1971, 9997, 9998, 9999)
# Requests go to the real app over a real Redis, so a few hundred per route, not thousands.
EDGES = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def edge_times(draw: st.DrawFn) -> str:
    """An RFC 3339 date-time near one end of Python's range, with any offset it can write."""
    year = draw(st.sampled_from(EDGE_YEARS) | st.integers(1, 9999))
    naive = draw(
        st.datetimes(min_value=datetime(year, 1, 1), max_value=datetime(year, 12, 31, 23, 59, 59))
    )
    minutes = draw(st.sampled_from((0, 1439, -1439, 60, -60)) | st.integers(-1439, 1439))
    if minutes == 0 and draw(st.booleans()):
        offset = "Z"
    else:
        sign = "-" if minutes < 0 else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return naive.isoformat(timespec="seconds") + offset


@st.composite
def windows(draw: st.DrawFn) -> tuple[str, str]:
    """A start and an end: independent, or the end a little after the start."""
    start = draw(edge_times())
    if draw(st.booleans()):
        return start, draw(edge_times())
    moment = datetime.fromisoformat(start)
    step = timedelta(minutes=draw(st.integers(1, 31 * 24 * 60)))
    try:
        end = (moment + step).isoformat()
    except OverflowError:
        end = start
    return start, end


def assert_answered(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code >= 400:
        body = response.get_json()
        assert set(body) == {"error", "message"}, body
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.fixture
def secret(app: Flask) -> str:
    app.extensions["gateway"].rooms.create(
        {
            "id": "blue",
            "name": "Room blue",
            "location": "Ghent",
            "time_zone": "Pacific/Kiritimati",  # +14:00, the farthest zone from UTC
            "hours": {day: [["00:00", "24:00"]] for day in ("monday", "sunday")},
            "visibility": ["frontend", "members"],
        }
    )
    service = ApiClientService(
        app.extensions["gateway"].api_clients, app.extensions["gateway"].audit
    )
    return service.create("booking", audiences=["frontend"])[1]


@EDGES
@given(window=windows(), granularity=st.sampled_from((0, 15, 60)))
@example(window=("9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z"), granularity=0)
@example(window=("0001-01-01T00:00:00+23:59", "0001-01-02T00:00:00Z"), granularity=15)
@example(window=("9999-12-31T23:00:00-23:59", "9999-12-31T23:59:59Z"), granularity=60)
def test_freebusy_answers_any_edge_time_without_a_500(
    client: FlaskClient, secret: str, window: tuple[str, str], granularity: int
) -> None:
    body = {"rooms": ["blue"], "timeMin": window[0], "timeMax": window[1]}
    body["granularity"] = granularity  # type: ignore[assignment]
    response = client.post("/v1/freebusy", json=body, headers={"Authorization": f"Bearer {secret}"})
    assert_answered(response)


@EDGES
@given(window=windows())
@example(window=("9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z"))
@example(window=("0001-01-01T00:00:00+23:59", "0001-01-02T00:00:00Z"))
def test_slots_answer_any_edge_time_without_a_500(
    client: FlaskClient, secret: str, window: tuple[str, str]
) -> None:
    response = client.get(
        "/v1/rooms/blue/slots",
        query_string={"from": window[0], "to": window[1], "duration": 30},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert_answered(response)


def test_a_time_outside_the_supported_range_is_a_400_that_says_the_range(
    client: FlaskClient, secret: str
) -> None:
    response = client.post(
        "/v1/freebusy",
        json={
            "rooms": ["blue"],
            "timeMin": "9999-12-31T00:00:00Z",
            "timeMax": "9999-12-31T01:00:00Z",
        },
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert "1970-01-01 to 9999-01-01" in response.get_json()["message"]


@EDGES
@given(day=st.dates().map(lambda d: d.isoformat()))
@example(day="9999-12-31")
@example(day="0001-01-01")
def test_the_rooms_page_answers_any_day_without_a_500(
    app: Flask, client: FlaskClient, secret: str, sign_in: Any, day: str
) -> None:
    if not client.get_cookie("gw_session", domain="127.0.0.1"):
        sign_in.complete("google", "alice@example.com")
    response = client.get("/rooms", query_string={"day": day}, headers={"Accept": "text/html"})
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
    assert "Traceback" not in response.get_data(as_text=True)

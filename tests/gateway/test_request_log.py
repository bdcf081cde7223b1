"""JSON logs: one access line per request with its id, no query string or token in any line,
and nothing a caller sends can start a line of its own."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.log_redaction import redact_url
from gateway.request_log import JsonFormatter, init_request_log

Lines = Callable[[], list[dict[str, Any]]]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
PLANTED = {
    "code": "4/0AbCdEfGhIjKlMnOpQrStUvWx",
    "state": "st8-XyZzY-12345-planted",
    "access_token": "ya29.a0PlantedAccessTokenValue",
    "id_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
    "login_hint": "carol.planted@example.com",
}


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    """Until app.py calls it: JSON request logs on the test app, before its first request."""
    if "request_log" not in app.extensions:
        init_request_log(app)


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG, formatted as the gateway formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def lines(log_text: io.StringIO) -> Lines:
    return lambda: [json.loads(line) for line in log_text.getvalue().splitlines()]


def access_lines(lines: Lines) -> list[dict[str, Any]]:
    return [line for line in lines() if line["logger"] == "gateway.access"]


def test_a_request_writes_one_json_access_line_with_its_id(client: FlaskClient, lines: Lines):
    given = "0f8fad5b-d9cb-469f-a165-70867728950e"

    response = client.get("/healthz", headers={"X-Request-Id": given})

    assert response.headers["X-Request-Id"] == given
    [line] = access_lines(lines)
    assert line["request_id"] == given
    assert (line["method"], line["endpoint"], line["status"]) == ("GET", "api.healthz", 200)
    assert line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert set(line) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "trace_id",
        "span_id",
        "method",
        "endpoint",
        "status",
        "duration_ms",
    }


@pytest.mark.parametrize(
    "offered",
    [None, "short", "x" * 129, "id with spaces", "../../etc/passwd", "alice@example.com"],
)
def test_without_a_valid_request_id_one_is_made(
    client: FlaskClient, lines: Lines, offered: str | None
) -> None:
    headers = {"X-Request-Id": offered} if offered is not None else {}

    response = client.get("/healthz", headers=headers)

    made = response.headers["X-Request-Id"]
    assert UUID.fullmatch(made)
    assert [line["request_id"] for line in access_lines(lines)] == [made]


def test_lines_written_during_a_request_carry_its_id(
    app: Flask, client: FlaskClient, lines: Lines
) -> None:
    @app.get("/_probe/<thing>")
    def probe(thing: str) -> str:
        logging.getLogger("gateway.test").warning("probing %s", thing)
        return "ok"

    response = client.get("/_probe/x")

    [inside] = [line for line in lines() if line["logger"] == "gateway.test"]
    assert inside["request_id"] == response.headers["X-Request-Id"]
    assert (inside["method"], inside["endpoint"]) == ("GET", "probe")
    assert "status" not in inside


def test_nothing_of_the_query_string_reaches_a_log(
    client: FlaskClient, log_text: io.StringIO, lines: Lines
) -> None:
    for path in (
        "/healthz",
        "/auth/callback/google",
        "/auth/callback/microsoft",
        "/auth/login/google",
        "/v1/freebusy",
        "/no/such/page",
    ):
        client.get(path, query_string=PLANTED)
    client.post("/auth/callback/google", data=PLANTED, query_string=PLANTED)

    text = log_text.getvalue()
    assert len(access_lines(lines)) == 7
    for name, planted in PLANTED.items():
        assert planted not in text, name
    assert "?" not in text
    assert "example.com" not in text


def test_secrets_in_a_message_are_scrubbed() -> None:
    record = logging.LogRecord(
        "gateway.x",
        logging.ERROR,
        __file__,
        1,
        "callback %s from %s with %s via %s",
        (
            "/cb?code=abc123&state=xyz789",
            "dave@example.org",
            "Authorization: Bearer ya29.secret " + PLANTED["id_token"],
            "rediss+sentinel://gateway:p@ss-w0rd@s1:26379,s2:26379/gw and redis://:onlypw@r:6379",
        ),
        None,
    )

    line = json.loads(JsonFormatter().format(record))

    secrets = ("abc123", "xyz789", "dave@example.org", "ya29.secret", PLANTED["id_token"])
    for secret in (*secrets, "p@ss-w0rd", "ss-w0rd", "onlypw", "gateway:"):
        assert secret not in line["message"]
    assert "code=[redacted]" in line["message"]
    assert "rediss+sentinel://[redacted]@s1:26379,s2:26379/gw" in line["message"]


def test_a_url_is_shown_without_its_credential() -> None:
    planted = "redis://gateway:PASSWORD@redis:6379/0"  # pragma: allowlist secret
    assert redact_url(planted) == "redis://[redacted]@redis:6379/0"
    assert redact_url("rediss://redis:6379") == "rediss://redis:6379"
    assert redact_url("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock?db=1"
    assert redact_url("https://gw.example/a@b") == "https://gw.example/a@b"


def test_cr_lf_and_control_characters_in_a_header_cannot_forge_a_line(
    client: FlaskClient, log_text: io.StringIO, lines: Lines
) -> None:
    forged = '\r\n{"level": "CRITICAL", "logger": "gateway.access", "message": "forged"}'
    response = client.get(
        "/healthz",
        environ_overrides={
            "HTTP_X_REQUEST_ID": "0f8fad5b-d9cb" + forged,
            "REQUEST_METHOD": "GET",
        },
    )

    assert "\r" not in response.headers["X-Request-Id"]
    assert "\n" not in response.headers["X-Request-Id"]
    text = log_text.getvalue()
    assert "\r" not in text
    assert "forged" not in text
    assert [line["level"] for line in lines()] == ["INFO"]


def test_control_characters_in_a_logged_value_are_escaped() -> None:
    record = logging.LogRecord(
        "gateway.x",
        logging.INFO,
        __file__,
        1,
        "room %s",
        ('blue\r\n{"level": "CRITICAL"}\x1b[31m\x7f\u2028\x85',),
        None,
    )

    text = JsonFormatter().format(record)

    assert text.isascii() and text.isprintable()
    assert len(text.splitlines()) == 1
    assert "\\r\\n" in text and "\\u001b" in text and "\\u007f" in text and "\\u2028" in text
    assert json.loads(text)["message"].startswith("room blue\r\n")

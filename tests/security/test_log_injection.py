"""T28 "CR/LF escaped in logs" / ASVS 5.0 16.4.1 (4.0.3 7.3.1), 16.2.5: a CR, LF or other
control character sent in any value that can reach a log (`next`, provider names, paths,
callback parameters, the request id, headers) never forges a log line, and no secret
(code, state) is written.

Every record of a run of hostile requests is captured (caplog) and formatted with the
gateway's own formatter (gateway.request_log.JsonFormatter, what production writes); each
must be exactly one line that parses as one JSON object. A root StreamHandler with that
formatter also writes the stream a container runtime would collect."""

from __future__ import annotations

import io
import json
import logging
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.request_log import JsonFormatter
from tests.security.support import GOOGLE_ACCOUNT, api_client, bearer, make_room

FORGED = "FORGED-LINE"
PAYLOADS = [
    f'/x\r\n{{"level": "INFO", "message": "{FORGED}"}}',
    f"/x%0d%0a{FORGED}",
    f"/x\n{FORGED}",
    f"/x\r{FORGED}",
    f"/x\u2028{FORGED}",
    f"/x\u0085{FORGED}",
    f"/x\x1b[2K\r{FORGED}",
    f"/x\x7f{FORGED}",
]


def hostile_requests(app: Flask, client: FlaskClient, sign_in: Any, payload: str) -> None:
    in_path = quote(payload, safe="/")  # a client percent-encodes the path
    make_room(app, "blue", ["frontend"])
    secret = api_client(app, "fe", {"frontend"})
    client.get("/auth/login/google", query_string={"next": payload})
    client.get(f"/auth/login/{in_path}")
    client.get(f"/auth/callback/{in_path}", query_string={"state": payload, "code": payload})
    client.get("/auth/callback/google", query_string={"state": payload, "code": "c0de-secret"})
    client.get("/auth/callback/google", query_string={"error": payload, "state": payload})
    client.post("/auth/callback/microsoft", data={"state": payload, "code": payload})
    client.get(f"/v1/rooms/{in_path}/slots", headers=bearer(secret))
    # HTTP servers refuse a raw CR/LF in a header; everything else is sent as is.
    header = payload.replace("\r", "%0d").replace("\n", "%0a")
    client.get("/v1/rooms", headers={"Authorization": f"Bearer {header}"})
    client.get("/", headers={"X-Request-Id": header, "User-Agent": header, "Referer": header})
    client.open("/", method="GET\r\nFAKE")
    client.get(f"/{in_path}")
    done = sign_in.complete("google", GOOGLE_ACCOUNT, next_path=payload)
    assert done.status_code == 303


@pytest.fixture
def stream_handler() -> Any:
    """What production writes: a plain StreamHandler with the gateway's JSON formatter."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    yield buffer
    root.removeHandler(handler)


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
def test_control_characters_never_forge_a_log_line(
    app: Flask,
    client: FlaskClient,
    sign_in: Any,
    caplog: pytest.LogCaptureFixture,
    stream_handler: io.StringIO,
    payload: str,
) -> None:
    """ASVS 16.4.1: every formatted record is one line of one JSON object; the forged text
    never starts a line of its own."""
    caplog.set_level(logging.DEBUG)
    hostile_requests(app, client, sign_in, payload)
    formatter = JsonFormatter()
    assert caplog.records
    for record in caplog.records:
        line = formatter.format(record)
        assert "\n" not in line and "\r" not in line, line
        assert "\u2028" not in line and "\u0085" not in line and "\x1b" not in line
        assert isinstance(json.loads(line), dict)
    written = stream_handler.getvalue()
    lines = written.splitlines()
    assert len(lines) >= len(caplog.records)
    for line in lines:
        parsed = json.loads(line)
        assert not str(parsed.get("message", "")).startswith(FORGED)
        assert not line.startswith(FORGED)


def test_codes_and_states_never_reach_a_log(
    app: Flask,
    client: FlaskClient,
    sign_in: Any,
    caplog: pytest.LogCaptureFixture,
    stream_handler: io.StringIO,
) -> None:
    """ASVS 16.2.5 / T32 canaries: authorization codes and states sent to the callback are
    in no log record, raw or formatted."""
    caplog.set_level(logging.DEBUG)
    authorize_url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(authorize_url)
    client.get(path, query_string=params)
    client.get(path, query_string=params)  # replayed: refused, and logged as refused
    client.get(
        "/auth/callback/google", query_string={"state": "st4te-canary", "code": "c0de-canary"}
    )
    raw = "\n".join(r.getMessage() for r in caplog.records) + stream_handler.getvalue()
    for secret in (params["code"], params["state"], "st4te-canary", "c0de-canary"):
        assert secret not in raw


def test_the_last_resort_handler_logs_a_hostile_path_on_one_line(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """ASVS 16.4.1 on the 500 path, whose record names the request path."""

    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    secret = api_client(app, "fe", {"frontend"})
    app.view_functions["api_v1.slots"] = explode  # this app instance only
    caplog.set_level(logging.DEBUG)
    answer = client.get(
        f"/v1/rooms/{quote(PAYLOADS[0].lstrip('/x'), safe='')}/slots", headers=bearer(secret)
    )
    assert answer.status_code == 500
    unhandled = [r for r in caplog.records if r.getMessage().startswith("unhandled")]
    assert unhandled
    for record in unhandled:
        line = JsonFormatter().format(record)
        assert "\n" not in line and "\r" not in line
        assert json.loads(line)["message"].startswith("unhandled RuntimeError")

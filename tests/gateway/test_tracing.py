"""W3C Trace Context: a valid `traceparent` continues the caller's trace in the logs, in
`traceresponse` and in the provider calls made for the request; anything else starts a new
trace. Request ids in the formats proxies use are kept."""

from __future__ import annotations

import http.server
import io
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connectors.http import BoundedHttp, ProviderSession
from gateway.request_ids import uuid4_text
from gateway.request_log import JsonFormatter, init_request_log
from gateway.request_trace import parse_traceparent, random_bytes

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"  # pragma: allowlist secret
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{PARENT}-01"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TRACERESPONSE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])")


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    if "request_log" not in app.extensions:
        init_request_log(app)


def answered(client: FlaskClient, **headers: str) -> tuple[str, str, str]:
    response = client.get("/healthz", headers=headers)
    assert response.status_code == 200
    found = TRACERESPONSE.fullmatch(response.headers["traceresponse"])
    assert found, response.headers["traceresponse"]
    return found.group(1), found.group(2), found.group(3)


def test_a_valid_traceparent_continues_the_callers_trace(app: Flask, client: FlaskClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("gateway.access").addHandler(handler)
    try:
        trace_id, span_id, flags = answered(client, traceparent=VALID)
    finally:
        logging.getLogger("gateway.access").removeHandler(handler)

    assert (trace_id, flags) == (TRACE, "01")
    assert span_id != PARENT  # our own span, the caller's is its parent
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["trace_id"], line["span_id"]) == (TRACE, span_id)


@pytest.mark.parametrize(
    "header",
    [
        "",
        f"00-{TRACE.upper()}-{PARENT}-01",  # hex must be lower case
        f"ff-{TRACE}-{PARENT}-01",  # version ff is invalid
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has four fields exactly
        f"00-{TRACE[:-1]}-{PARENT}-01",
        f"00-{TRACE}-{PARENT}-1",
        f"01-{TRACE}-{PARENT}-01x",  # a later version's extra field starts with a dash
        f"{VALID},{VALID}",  # two traceparent headers, as a server joins them
        "not a trace",
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(client: FlaskClient, header: str) -> None:
    assert parse_traceparent(header) is None
    first, _span, flags = answered(client, traceparent=header)
    second, _span, _flags = answered(client, traceparent=header)

    assert first not in (TRACE, second) and flags == "00"


def test_the_ids_made_for_requests_are_well_formed_and_never_repeat(client: FlaskClient) -> None:
    """A request's id, trace id and span id come from one random draw: none shares bytes."""
    made: list[str] = []
    for _ in range(50):
        response = client.get("/healthz")
        found = TRACERESPONSE.fullmatch(response.headers["traceresponse"])
        assert found and UUID.fullmatch(response.headers["X-Request-Id"])
        made += [response.headers["X-Request-Id"].replace("-", ""), found.group(1), found.group(2)]

    assert len(set(made)) == len(made) == 150
    halves = [text[i : i + 16] for text in made for i in range(0, len(text), 16)]
    assert len(set(halves)) == len(halves)  # no 8 bytes handed out twice


def test_a_new_request_id_is_the_uuid4_of_its_random_bytes() -> None:
    for raw in (bytes(16), b"\xff" * 16, os.urandom(16), os.urandom(16)):
        assert uuid4_text(raw) == str(uuid.UUID(bytes=raw, version=4))


def test_a_later_version_is_read_by_its_first_four_fields() -> None:
    assert parse_traceparent(f"01-{TRACE}-{PARENT}-03-more-fields") == (TRACE, PARENT, "03")
    assert parse_traceparent(f" {VALID}\t") == (TRACE, PARENT, "01")


@pytest.mark.parametrize(
    "given",
    [
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "Root=1-67a1b2c3-0123456789abcdef01234567",  # an AWS load balancer's trace id
        "req_01HZX3.k8s:ingress-7",
        "x" * 128,
    ],
)
def test_request_ids_in_proxy_formats_are_kept_and_echoed(client: FlaskClient, given: str) -> None:
    assert client.get("/healthz", headers={"X-Request-Id": given}).headers["X-Request-Id"] == given


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []  # noqa: RUF012

    def do_GET(self) -> None:
        Recorder.seen.append(dict(self.headers.items()))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[str]:
    Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_provider_calls_made_for_a_request_carry_its_trace(
    app: Flask, client: FlaskClient, recorder: str
) -> None:
    session = ProviderSession()

    @app.get("/_test/calls-out")
    def calls_out() -> str:
        session.get(recorder)
        return "ok"

    response = client.get(
        "/_test/calls-out", headers={"traceparent": VALID, "tracestate": "vendor=abc,x=1"}
    )
    session.get(recorder)  # outside any request: no trace

    [inside, outside] = Recorder.seen
    ours = TRACERESPONSE.fullmatch(response.headers["traceresponse"])
    assert ours
    assert inside["traceparent"] == f"00-{TRACE}-{ours.group(2)}-01"
    assert inside["tracestate"] == "vendor=abc,x=1"
    assert "traceparent" not in outside and "tracestate" not in outside


@pytest.mark.parametrize("positional", [False, True], ids=["headers-by-name", "positional"])
def test_httplib2_calls_made_for_a_request_carry_its_trace_too(
    app: Flask, client: FlaskClient, recorder: str, positional: bool
) -> None:
    """The API client library that speaks httplib2 goes through BoundedHttp."""
    http = BoundedHttp()

    @app.get("/_test/calls-out-httplib2")
    def calls_out() -> str:
        if positional:
            http.request(recorder, "GET", None, {"accept": "application/json"})
        else:
            http.request(recorder, method="GET", headers={"accept": "application/json"})
        return "ok"

    response = client.get("/_test/calls-out-httplib2", headers={"traceparent": VALID})
    http.request(recorder, "GET")  # outside any request: no trace

    [inside, outside] = [{k.lower(): v for k, v in seen.items()} for seen in Recorder.seen]
    ours = TRACERESPONSE.fullmatch(response.headers["traceresponse"])
    assert ours
    assert inside["traceparent"] == f"00-{TRACE}-{ours.group(2)}-01"
    assert inside["accept"] == "application/json"  # the caller's headers are kept
    assert "traceparent" not in outside


def test_a_forked_worker_draws_ids_of_its_own() -> None:
    random_bytes({}, 16)  # this process's pool holds unused bytes now
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, random_bytes({}, 16))
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 16)
    os.close(read)

    assert len(theirs) == 16
    assert theirs != random_bytes({}, 16)

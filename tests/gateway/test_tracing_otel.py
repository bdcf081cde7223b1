"""OpenTelemetry on (`GATEWAY_OTEL_ENABLED=1`): a sign-in and a free/busy request reach a real
OTLP/HTTP receiver as spans in the request's trace (the one the logs and `traceresponse`
name), with spans for the provider calls and the Redis commands, and nothing private in them.
Off (the default), nothing is instrumented."""

from __future__ import annotations

import http.server
import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httplib2
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway.request_log import JsonFormatter
from gateway.services.api_clients import ApiClientService
from gateway.tracing_scrub import ScrubbingExporter, scrubbed_attributes
from tests.conftest import make_gateway

# (provider, account, calendar scope): Graph is called through requests, the other
# provider's API client through httplib2
CALENDARS = [
    ("microsoft", "carol@contoso.example", "Calendars.ReadBasic"),
    ("google", "alice@example.com", "https://www.googleapis.com/auth/calendar.freebusy"),
]
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"  # pragma: allowlist secret
PARENT = "00f067aa0ba902b7"
TRACERESPONSE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])")
# event data the emulator holds: it must never reach a span
USER_URL = "https://u:pw@g.example/users/a@b.example/cal?x=1"  # pragma: allowlist secret
PLANTED = ("Planted-Summary-7f3a", "Planted-Place-7f3a", "planted.guest@example.org")


class Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: POST /v1/traces, protobuf bodies, kept as they came."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[Span]:
        found = []
        for body in self.bodies:
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    found.extend(scope.spans)
        return found


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # http.server calls it by this name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf"
        if ok:
            self.server.bodies.append(body)
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def app(
    gateway_env: dict[str, str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    """The gateway with tracing on, exporting to the receiver through the standard variable."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    app = make_gateway({**gateway_env, "GATEWAY_OTEL_ENABLED": "1"})
    yield app
    app.extensions["otel_tracing"].shutdown()


def exported(app: Flask, receiver: Receiver) -> list[Span]:
    assert app.extensions["otel_tracing"].provider.force_flush(10_000)
    return receiver.spans()


def strings(receiver: Receiver) -> list[str]:
    """Every text the receiver got: span names, attribute values, the resource's."""
    found = []
    for body in receiver.bodies:
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
            found += [str(v) for v in attributes(resource.resource).values()]
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found += [span.name, *(str(v) for v in attributes(span).values())]
    return found


def hex_id(value: bytes) -> str:
    return value.hex()


def attributes(span: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in span.attributes:
        kind = item.value.WhichOneof("value")
        found[item.key] = getattr(item.value, kind) if kind else None
    return found


def is_redis(span: Span) -> bool:
    found = attributes(span)
    return "redis" in (found.get("db.system"), found.get("db.system.name"))


def url_of(span: Span) -> str:
    found = attributes(span)
    return str(found.get("url.full", found.get("http.url", "")))


def is_provider_call(span: Span, emulator_url: str) -> bool:
    return span.kind == Span.SPAN_KIND_CLIENT and url_of(span) == emulator_url.rstrip("/") + "/"


def access_lines() -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("gateway.access").addHandler(handler)
    return stream, handler


def test_a_sign_in_continues_the_callers_trace_in_spans_for_flask_requests_and_redis(
    app: Flask, client: FlaskClient, sign_in: Any, emulator: Any, receiver: Receiver
) -> None:
    authorize_url = sign_in.start("google")
    emulator.client.authorize_next("alice@example.com")
    path, params = sign_in.at_provider(authorize_url)
    stream, handler = access_lines()
    try:
        answer = client.get(
            path, query_string=params, headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}
        )
    finally:
        logging.getLogger("gateway.access").removeHandler(handler)
    assert answer.status_code in (302, 303), answer.get_data(as_text=True)
    trace_id, _span, _flags = TRACERESPONSE.fullmatch(answer.headers["traceresponse"]).groups()  # type: ignore[union-attr]
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert trace_id == line["trace_id"] == TRACE

    spans = [s for s in exported(app, receiver) if hex_id(s.trace_id) == TRACE]
    [server] = [s for s in spans if s.kind == Span.SPAN_KIND_SERVER]
    assert hex_id(server.parent_span_id) == PARENT  # the caller's span is its parent
    assert attributes(server)["http.route"] == "/auth/callback/<provider>"
    provider_calls = [s for s in spans if is_provider_call(s, emulator.url)]
    assert provider_calls  # the code exchanged for tokens, at the provider
    assert [s for s in spans if is_redis(s)]  # the flow read, the session written
    ids = {s.span_id for s in spans}
    assert all(s.parent_span_id in ids for s in spans if s is not server)  # one tree

    everything = b"".join(receiver.bodies)
    for secret in (params["code"], params["state"], "alice@example.com", "Bearer"):
        assert secret.encode() not in everything
    assert not [text for text in strings(receiver) if "@" in text]  # no e-mail address
    uid = client.get("/v1/me").get_json()["id"]
    assert uid.encode() not in b"".join(receiver.bodies)  # not in a Redis key either


@pytest.mark.parametrize(("provider", "account", "scope"), CALENDARS, ids=[c[0] for c in CALENDARS])
def test_a_free_busy_request_without_a_traceparent_is_one_new_trace_in_logs_and_spans(
    app: Flask,
    client: FlaskClient,
    sign_in: Any,
    emulator: Any,
    receiver: Receiver,
    provider: str,
    account: str,
    scope: str,
) -> None:
    services = app.extensions["gateway"]
    sign_in.complete(provider, account)
    uid = client.get("/v1/me").get_json()["id"]
    connector = services.signin.connectors[provider]
    redirect_uri = services.settings.redirect_uri(provider)
    flow = connector.begin(redirect_uri, f"p-{time.monotonic_ns()}", (scope,))
    emulator.client.authorize_next(account)
    _, params = sign_in.at_provider(flow.url)
    identity = connector.complete(redirect_uri, flow.flow, params)
    grant = services.grants.create(uid, "room-availability", identity).id
    services.rooms.create(
        {
            "id": "atlas",
            "name": "Atlas",
            "time_zone": "UTC",
            "host": uid,
            "visibility": ["frontend"],
            "hours": {"wednesday": [["08:00", "18:00"]]},
        }
    )
    services.rooms.bind(uid, "atlas", grant)
    summary, place, guest = PLANTED
    emulator.client.add_event(
        account,
        "2026-11-25T09:00:00Z",
        "2026-11-25T10:00:00Z",
        summary=summary,
        location=place,
        attendees=[guest],
    )
    clients = ApiClientService(services.api_clients, services.audit)
    _, secret = clients.create("booking", audiences=["frontend"])
    assert exported(app, receiver)  # what came before is out; now only this request
    receiver.bodies.clear()

    stream, handler = access_lines()
    try:
        answer = client.post(
            "/v1/freebusy",
            json={
                "rooms": ["atlas"],
                "timeMin": "2026-11-25T00:00:00Z",
                "timeMax": "2026-11-26T00:00:00Z",
            },
            headers={"Authorization": f"Bearer {secret}"},
        )
    finally:
        logging.getLogger("gateway.access").removeHandler(handler)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["rooms"]["atlas"]["status"] == "ok"
    trace_id, _span, _flags = TRACERESPONSE.fullmatch(answer.headers["traceresponse"]).groups()  # type: ignore[union-attr]
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["trace_id"] == trace_id

    spans = exported(app, receiver)
    assert {hex_id(s.trace_id) for s in spans} == {trace_id}
    [server] = [s for s in spans if s.kind == Span.SPAN_KIND_SERVER]
    assert server.parent_span_id == b""  # a new trace: the gateway's span is its root
    assert attributes(server)["http.route"] == "/v1/freebusy"
    # the provider's origin only: no path (it can name a mailbox), no query
    assert [s for s in spans if is_provider_call(s, emulator.url)]
    assert all(url_of(s) in ("", emulator.url + "/") for s in spans)
    redis_spans = [s for s in spans if is_redis(s)]
    assert redis_spans
    for span in redis_spans:  # command names only: keys and values hold ids and tokens
        statement = attributes(span).get("db.statement", attributes(span).get("db.query.text"))
        for command in (statement or "").splitlines():  # a pipeline: a line per command
            assert set(command.split()[1:]) <= {"?", "..."}, statement

    everything = b"".join(receiver.bodies)
    for planted in (*PLANTED, secret, uid, account):
        assert planted.encode() not in everything
    assert not [text for text in strings(receiver) if "@" in text]


def test_probes_scrapes_and_work_outside_a_request_make_no_spans(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200
    app.extensions["gateway"].redis.ping()  # as the worker's queue polling does
    requests.get(receiver.url + "/", timeout=5)  # an HTTP call outside any request
    assert exported(app, receiver) == []


def test_only_protocol_facts_pass_the_scrubber() -> None:
    kept = scrubbed_attributes(
        {
            "http.method": "GET",
            "http.route": "/rooms/<room_id>",
            "http.target": "/auth/callback/google?code=abc&state=def",
            "url.query": "code=abc",
            "url.full": USER_URL,
            "http.user_agent": "Mozilla",
            "net.peer.ip": "192.0.2.7",
            "db.statement": "GET gw:user:1234",
            "enduser.id": "1234",
        },
        client=True,
    )
    assert kept == {
        "http.method": "GET",
        "http.route": "/rooms/<room_id>",
        "url.full": "https://g.example/",
    }
    assert scrubbed_attributes({"db.statement": "HGETALL ?\nEXPIRE ? ?"}, client=True) == {
        "db.statement": "HGETALL ?\nEXPIRE ? ?"
    }
    assert scrubbed_attributes({"net.peer.name": "browser.example"}, client=False) == {}
    caller_sent = {"http.host": "a@b.example", "server.address": "a@b.example"}
    assert scrubbed_attributes(caller_sent, client=False) == {}


def test_off_by_default_nothing_is_instrumented(
    gateway_env: dict[str, str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    plain = make_gateway(gateway_env)
    assert "otel_tracing" not in plain.extensions
    assert not hasattr(requests.Session.send, "__wrapped__")
    assert not hasattr(httplib2.Http.request, "traced_by")
    answer = plain.test_client().get("/healthz", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert answer.headers["traceresponse"].startswith(f"00-{TRACE}-")  # request_log still
    assert receiver.bodies == []


def test_exception_messages_events_and_status_descriptions_never_leave() -> None:
    sink = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ScrubbingExporter(sink)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as span:
        span.record_exception(ValueError("https://p.example/token?code=planted-code"))
        span.add_event("body", {"summary": "Planted-Summary-7f3a"})
        span.set_status(Status(StatusCode.ERROR, "planted-code was refused"))
    [sent] = sink.get_finished_spans()
    provider.shutdown()

    assert sent.events == () and sent.status.status_code is StatusCode.ERROR
    assert sent.status.description is None
    assert "planted" not in repr(sent.to_json()).lower()

"""Over real HTTP: a Host header whose port is out of range is a 400 in the one error shape,
and an exception that escapes the app is the generic 500, logged by its type only: never a
traceback or a path in a response or a log line."""

from __future__ import annotations

import http.client
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.request_log import JsonFormatter, RequestLogMiddleware

Lines = Callable[[], str]


@pytest.fixture
def log_text() -> Iterator[Lines]:
    """Every record of every logger, as the gateway formats it, and the server's stderr."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream.getvalue
    finally:
        root.removeHandler(handler)


def raw_get(port: int, path: str, host: str, accept: str = "*/*") -> tuple[int, bytes, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        connection.putheader("Accept", accept)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.read(), answer.getheader("Content-Type") or ""
    finally:
        connection.close()


@pytest.mark.parametrize("host", ["127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:http"])
@pytest.mark.parametrize("path", ["/healthz", "/v1/rooms", "/auth/login/google"])
def test_a_host_port_out_of_range_is_a_400_in_the_one_shape(
    live_gateway_at: Any, log_text: Lines, host: str, path: str
) -> None:
    url, _ = live_gateway_at()
    status, body, kind = raw_get(int(url.rsplit(":", 1)[1]), path, host, "application/json")

    assert status == 400, body[:300]
    assert kind.startswith("application/json")
    answer = json.loads(body)
    assert set(answer) == {"error", "message"} and answer["error"] == "bad_request"
    if host.rpartition(":")[2].isdigit():
        assert answer["message"] == "The Host header's port must be a number from 1 to 65535."
    assert "Traceback" not in log_text()


def test_a_page_with_a_port_out_of_range_is_the_error_page(live_gateway_at: Any) -> None:
    url, _ = live_gateway_at()
    status, body, kind = raw_get(int(url.rsplit(":", 1)[1]), "/", "127.0.0.1:99999", "text/html")
    assert (status, kind.split(";")[0]) == (400, "text/html")
    assert b"Host header" in body and b"Traceback" not in body


def test_the_hosts_a_deployment_uses_are_answered(live_gateway_at: Any) -> None:
    url, _ = live_gateway_at()
    port = int(url.rsplit(":", 1)[1])
    for host in (f"127.0.0.1:{port}", "127.0.0.1", "127.0.0.1:65535"):
        assert raw_get(port, "/healthz", host)[0] == 200, host


def test_an_exception_escaping_the_app_is_logged_by_type_only(
    live_gateway_at: Any, log_text: Lines
) -> None:
    """A WSGI wrapper inside the request log (here, one planted around the app) fails:
    the server would log its traceback and the path; the request log answers first."""
    url, app = live_gateway_at()
    request_log = app.wsgi_app
    while not isinstance(request_log, RequestLogMiddleware):
        request_log = request_log.wsgi_app  # the metrics mount is outside it
    inner = request_log.wsgi_app

    def broken(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"].startswith("/rooms/planted-room-id"):
            raise LookupError("planted-detail")
        return inner(environ, start_response)

    request_log.wsgi_app = broken
    port = int(url.rsplit(":", 1)[1])
    status, body, _ = raw_get(port, "/rooms/planted-room-id/x?code=c0de", "127.0.0.1")

    assert status == 500
    assert json.loads(body) == {
        "error": "internal_error",
        "message": "Something went wrong on our side.",
    }
    text = log_text()
    assert "unhandled LookupError" in text
    for leaked in ("Traceback", "planted-room-id", "planted-detail", "c0de"):
        assert leaked not in text
    assert raw_get(port, "/healthz", "127.0.0.1")[0] == 200  # and the server goes on

"""Graph's per-grant calls go through urllib3 directly (`FanoutHttp`), and keep every
guarantee the requests path gave: the configured CA bundle and host name checked, the
read timeout, no redirect followed, the proxy variables, the trace headers, kept-alive
connections; and no cookie one grant's answer set is sent with another grant's call."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from connectors import trace_context
from connectors.errors import ProviderUnavailable
from connectors.fanout_http import FanoutHttp, NoAnswer
from connectors.microsoft import MicrosoftConnector
from tests.connectors.fanout_servers import TOGETHER, FirstLine, Server, refusing_proxy

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")
BODY = {"schedules": ["room-1@contoso.example"], "availabilityViewInterval": 30}
TRACEPARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PROXY_VARIABLES, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, str]:
    """The configured CA and its bundle's path."""
    authority = trustme.CA()
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, str(path)


@pytest.fixture
def tls_server(clean_environment: None, ca: tuple[trustme.CA, str]) -> Iterator[Server]:
    server = Server(ca[0])
    yield server
    server.stop()


@pytest.fixture
def plain_server(clean_environment: None) -> Iterator[Server]:
    server = Server()
    yield server
    server.stop()


def test_a_call_sends_method_path_host_authorization_json_body_and_trace_headers(
    tls_server: Server, ca: tuple[trustme.CA, str]
) -> None:
    http = FanoutHttp(ca[1])
    token = trace_context.OUTGOING.set((TRACEPARENT, "k=v"))
    try:
        answer = http.call(
            "POST", tls_server.url + "/v1.0/x", {"Authorization": "Bearer t-1"}, BODY
        )
    finally:
        trace_context.OUTGOING.reset(token)

    assert (answer.status_code, answer.json()) == (200, {"value": []})
    assert answer.headers["content-type"] == "application/json"  # any case finds it
    [(_, line, headers, body)] = tls_server.seen.requests
    assert line == "POST /v1.0/x HTTP/1.1"
    assert headers["Host"] == tls_server.url.removeprefix("https://")
    assert headers["Authorization"] == "Bearer t-1"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == BODY
    assert headers["User-Agent"].startswith("python-requests/")  # the same as before
    assert (headers["traceparent"], headers["tracestate"]) == (TRACEPARENT, "k=v")


def test_outside_a_request_no_trace_header_is_sent(
    tls_server: Server, ca: tuple[trustme.CA, str]
) -> None:
    FanoutHttp(ca[1]).call("GET", tls_server.url + "/me", {"Authorization": "Bearer t-1"})
    [(_, line, headers, body)] = tls_server.seen.requests
    assert (line, body) == ("GET /me HTTP/1.1", b"")
    assert "traceparent" not in headers and "Content-Type" not in headers


def test_a_redirect_is_an_answer_and_never_followed(
    tls_server: Server, ca: tuple[trustme.CA, str]
) -> None:
    answer = FanoutHttp(ca[1]).call("POST", tls_server.url + "/moved", {}, BODY)
    assert answer.status_code == 302
    assert tls_server.seen.lines() == ["POST /moved HTTP/1.1"]


def test_a_server_the_configured_bundle_does_not_sign_is_refused(
    clean_environment: None,
    ca: tuple[trustme.CA, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stranger = trustme.CA()
    stranger_path = tmp_path / "stranger.pem"
    stranger.cert_pem.write_to_path(str(stranger_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stranger_path))  # never read
    monkeypatch.setenv("SSL_CERT_FILE", str(stranger_path))
    server = Server(stranger)
    try:
        with pytest.raises(NoAnswer, match="SSLError"):
            FanoutHttp(ca[1]).call("GET", server.url + "/me", {})
    finally:
        server.stop()
    assert server.seen.requests == []


def test_a_certificate_for_another_host_name_is_refused(
    clean_environment: None, ca: tuple[trustme.CA, str]
) -> None:
    server = Server(ca[0], names=("graph.other.example",))  # signed by our CA, not our name
    try:
        with pytest.raises(NoAnswer, match="SSLError"):
            FanoutHttp(ca[1]).call("GET", server.url + "/me", {})
    finally:
        server.stop()
    assert server.seen.requests == []


def test_the_read_timeout_holds_against_a_server_that_never_answers(
    tls_server: Server, ca: tuple[trustme.CA, str]
) -> None:
    with pytest.raises(NoAnswer, match="ReadTimeoutError"):
        FanoutHttp(ca[1], timeout=(3.0, 0.3)).call("POST", tls_server.url + "/slow", {}, BODY)
    assert tls_server.seen.lines() == ["POST /slow HTTP/1.1"]  # sent once: no retry


def test_a_refused_connection_and_a_malformed_answer_are_no_answer(plain_server: Server) -> None:
    http = FanoutHttp()
    with pytest.raises(NoAnswer, match="ProtocolError"):
        http.call("GET", plain_server.url + "/garbage", {})
    closed = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    with pytest.raises(NoAnswer, match="NewConnectionError"):
        http.call("GET", f"http://127.0.0.1:{port}/me", {})
    assert plain_server.seen.lines() == ["GET /garbage HTTP/1.1"]


def test_calls_to_one_host_keep_one_connection_alive(
    tls_server: Server, ca: tuple[trustme.CA, str]
) -> None:
    http = FanoutHttp(ca[1])
    for n in range(5):
        http.call("POST", tls_server.url + f"/v1.0/{n}", {}, BODY)
    assert len({port for port, _, _, _ in tls_server.seen.requests}) == 1


def test_calls_in_flight_together_find_their_connections_kept_for_the_next_round(
    tls_server: Server, ca: tuple[trustme.CA, str]
) -> None:
    """A fan-out's concurrent calls each hold a connection; all of them are kept, so the
    next fan-out makes none (no TLS handshake on either side)."""
    http = FanoutHttp(ca[1])

    def fan_out() -> set[int]:
        before = len(tls_server.seen.requests)
        threads = [
            threading.Thread(
                target=http.call, args=("POST", tls_server.url + "/together", {}, BODY)
            )
            for _ in range(TOGETHER)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {port for port, _, _, _ in tls_server.seen.requests[before:]}

    first, second = fan_out(), fan_out()
    assert len(first) == TOGETHER  # each call had a connection of its own
    assert second == first


@pytest.fixture
def proxy(clean_environment: None) -> Iterator[str]:
    with refusing_proxy() as url:
        yield url


def test_https_proxy_carries_the_calls_and_no_proxy_exempts_a_host(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = FanoutHttp()
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(NoAnswer, match="ProxyError"):  # the proxy refuses the tunnel
        http.call("POST", "https://graph.provider.invalid/v1.0/x", {}, BODY)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    answer = http.call("POST", "http://graph.provider.invalid/through", {}, BODY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    exempt = http.call("GET", proxy + "/direct", {})  # the proxy itself, reached directly

    assert (answer.status_code, exempt.status_code) == (502, 502)
    assert [line.split(" ")[:2] for line in FirstLine.seen] == [
        ["CONNECT", "graph.provider.invalid:443"],
        ["POST", "http://graph.provider.invalid/through"],
        ["GET", "/direct"],
    ]


def graph_at(server: Server, ca_path: str) -> MicrosoftConnector:
    return MicrosoftConnector(
        client_id="client-1",
        client_secret="secret-1",  # pragma: allowlist secret
        tenant="common",
        allowed_tenants=frozenset(),
        authority_base=server.url,
        ca_bundle=ca_path,
        graph_base=server.url,
    )


START, END = datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)


def test_a_cookie_one_grants_answer_sets_is_never_sent_with_another_grants_call(
    tls_server: Server, ca: tuple[trustme.CA, str]
) -> None:
    graph = graph_at(tls_server, ca[1])
    graph.graph_base = tls_server.url + "/cookie"  # every answer sets a cookie
    graph.free_busy("token-a", ["room-1@contoso.example"], START, END, grant="grant-a")
    graph.free_busy("token-b", ["room-1@contoso.example"], START, END, grant="grant-b")

    [first, second] = [headers for _, _, headers, _ in tls_server.seen.requests]
    assert (first["Authorization"], second["Authorization"]) == ("Bearer token-a", "Bearer token-b")
    assert "Cookie" not in first and "Cookie" not in second


def test_a_graph_redirect_is_a_provider_without_an_answer(
    tls_server: Server, ca: tuple[trustme.CA, str]
) -> None:
    graph = graph_at(tls_server, ca[1])
    graph.graph_base = tls_server.url + "/moved"
    with pytest.raises(ProviderUnavailable) as refused:
        graph.free_busy("token-a", ["room-1@contoso.example"], START, END, grant="grant-a")
    assert refused.value.code == "provider_unavailable"
    assert tls_server.seen.lines() == ["POST /moved/v1.0/me/calendar/getSchedule HTTP/1.1"]

"""`ProviderSession.call` (Graph's per-grant calls) sends exactly what `request` sends:
the same request line, headers, cookies and body, through the same proxy, with the same
timeout and no redirect followed; it only prepares the request more cheaply."""

from __future__ import annotations

import http.server
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors import trace_context
from connectors.http import ProviderSession

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


ANSWER = b'{"ok": true}'


class Recorder(http.server.BaseHTTPRequestHandler):
    """Writes down every request (line, headers, body); answers by path: /cookie sets a
    cookie, /moved redirects, /slow never answers, anything else is a JSON object."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, list[tuple[str, str]], bytes]] = []  # noqa: RUF012
    release = threading.Event()

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.seen.append((self.requestline, list(self.headers.items()), body))
        if self.path.endswith("/slow"):
            Recorder.release.wait(5)
            return
        self.send_response(302 if self.path.endswith("/moved") else 200)
        if self.path.endswith("/cookie"):
            self.send_header("Set-Cookie", "affinity=node-7; Path=/")
        if self.path.endswith("/moved"):
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    do_GET = do_POST = _answer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    Recorder.seen = []
    Recorder.release = threading.Event()
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Recorder)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        Recorder.release.set()
        httpd.shutdown()
        httpd.server_close()


BODY = {"schedules": ["room-1@contoso.example"], "availabilityViewInterval": 30}
HEADERS = {"Authorization": "Bearer token-1"}


def test_call_sends_what_request_sends(server: str) -> None:
    session = ProviderSession()
    session.get(server + "/cookie")  # the session now holds a cookie, sent with every call
    token = trace_context.OUTGOING.set(("00-" + "1" * 32 + "-" + "2" * 16 + "-01", "k=v"))
    try:
        long_way = session.request("POST", server + "/v1.0/x", headers=HEADERS, json=BODY)
        short_way = session.call("POST", server + "/v1.0/x", HEADERS, BODY)
        session.request("GET", server + "/me", headers=HEADERS)
        session.call("GET", server + "/me", HEADERS)
    finally:
        trace_context.OUTGOING.reset(token)

    assert long_way.json() == short_way.json() == {"ok": True}
    _, posted_long, posted_short, got_long, got_short = Recorder.seen
    assert posted_short == posted_long
    assert got_short == got_long
    headers = dict(posted_short[1])
    assert headers["Cookie"] == "affinity=node-7"
    assert headers["traceparent"].startswith("00-111")
    assert headers["Authorization"] == "Bearer token-1"
    assert headers["Content-Type"] == "application/json"


def test_call_goes_through_the_proxy_the_variables_name(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = ProviderSession()
    session.call("POST", server + "/direct", HEADERS, BODY)
    monkeypatch.setenv("HTTP_PROXY", server)  # the recorder as the proxy: absolute-form line
    session.call("POST", "http://graph.provider.invalid/through", HEADERS, BODY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session.call("POST", server + "/exempt", HEADERS, BODY)

    assert [line for line, _, _ in Recorder.seen] == [
        "POST /direct HTTP/1.1",
        "POST http://graph.provider.invalid/through HTTP/1.1",
        "POST /exempt HTTP/1.1",
    ]


def test_call_follows_no_redirect_and_keeps_the_sessions_timeout(server: str) -> None:
    """A redirect is refused as `request` refuses it (max_redirects 0: never followed)."""
    session = ProviderSession(timeout=(3.0, 0.3))
    with pytest.raises(requests.exceptions.TooManyRedirects):
        session.request("POST", server + "/moved", headers=HEADERS, json=BODY)
    with pytest.raises(requests.exceptions.TooManyRedirects):
        session.call("POST", server + "/moved", HEADERS, BODY)
    assert [line for line, _, _ in Recorder.seen] == ["POST /moved HTTP/1.1"] * 2

    with pytest.raises(requests.exceptions.ReadTimeout):
        session.call("POST", server + "/slow", HEADERS, BODY)

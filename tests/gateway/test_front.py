"""gateway.front passes whole, re-framed requests to the app and refuses what it must: an
ambiguous frame, a body over the limit, forwarding headers from a peer it does not trust.

The upstream is a real HTTP server (werkzeug) that echoes what reached it; the slow-client
behaviour under the real `make serve` is tests/serving/test_slow_clients.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway.front_proxy import Front, Limits

Started = Callable[..., int]


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    @Request.application
    def echo(request: Request) -> Response:
        body = request.get_data()
        seen.append({"headers": dict(request.headers), "body": body})
        answer = {"length": len(body), "headers": dict(request.headers)}
        return Response(json.dumps(answer), content_type="application/json")

    server = make_server("127.0.0.1", 0, echo, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}", seen
    server.shutdown()


@pytest.fixture
def front(upstream: tuple[str, list[dict[str, Any]]]) -> Iterator[Started]:
    """start(**options) -> the port of a Front forwarding to the echo server."""
    loops: list[tuple[asyncio.AbstractEventLoop, Any, threading.Thread]] = []

    def start(forwarded_allow: tuple[str, ...] = ("127.0.0.1",), **limits: Any) -> int:
        loop = asyncio.new_event_loop()
        target = Front(upstream[0], Limits(**limits), forwarded_allow)
        server = loop.run_until_complete(asyncio.start_server(target.serve_client, "127.0.0.1", 0))
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        loops.append((loop, server, thread))
        return int(server.sockets[0].getsockname()[1])

    yield start
    for loop, server, thread in loops:
        asyncio.run_coroutine_threadsafe(shut_down(server), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


async def shut_down(server: asyncio.Server) -> None:
    """Stop listening and end every connection still open (a kept-alive one waits)."""
    server.close()
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()
    await asyncio.sleep(0.05)  # their `finally` closes each socket


def raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_chunked_body_reaches_the_app_whole_with_a_content_length(
    front: Started, upstream: tuple[str, list[dict[str, Any]]]
) -> None:
    port = front()
    request = (
        b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    answer = raw(port, request)
    assert answer.startswith(b"HTTP/1.1 200 ")
    [reached] = upstream[1]
    assert reached["body"] == b"hello world"
    assert reached["headers"]["Content-Length"] == "11"
    assert "Transfer-Encoding" not in reached["headers"]


def test_a_request_with_both_content_length_and_chunked_is_refused_and_never_forwarded(
    front: Started, upstream: tuple[str, list[dict[str, Any]]]
) -> None:
    port = front()
    smuggled = (
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert raw(port, smuggled).startswith(b"HTTP/1.1 400 ")
    assert upstream[1] == []


def test_a_body_over_the_limit_is_413_and_never_forwarded(
    front: Started, upstream: tuple[str, list[dict[str, Any]]]
) -> None:
    port = front(max_body_bytes=1000)
    answer = requests.post(f"http://127.0.0.1:{port}/x", data=b"x" * 1001, timeout=10)
    assert answer.status_code == 413
    assert upstream[1] == []
    assert requests.post(f"http://127.0.0.1:{port}/x", data=b"x" * 1000, timeout=10).ok


def test_forwarding_headers_pass_only_from_a_trusted_peer(
    front: Started, upstream: tuple[str, list[dict[str, Any]]]
) -> None:
    claimed = {"X-Forwarded-Proto": "https", "Forwarded": "proto=https", "X-Kept": "yes"}
    untrusted, trusted = front(forwarded_allow=("10.0.0.0/8",)), front()

    requests.get(f"http://127.0.0.1:{untrusted}/x", headers=claimed, timeout=10)
    requests.get(f"http://127.0.0.1:{trusted}/x", headers=claimed, timeout=10)

    stripped, kept = (reached["headers"] for reached in upstream[1])
    assert "X-Forwarded-Proto" not in stripped and "Forwarded" not in stripped
    assert stripped["X-Kept"] == "yes"
    assert kept["X-Forwarded-Proto"] == "https"


def test_one_connection_serves_several_requests(front: Started) -> None:
    port = front()
    with requests.Session() as session:
        answers = [session.get(f"http://127.0.0.1:{port}/x", timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json()["headers"]["Connection"] == "close" for a in answers)  # to the app


def test_an_app_that_is_not_listening_is_a_502_in_the_one_error_shape() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{unused.getsockname()[1]}"

    async def ask() -> bytes:
        server = await asyncio.start_server(Front(dead, Limits(), ()).serve_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        server.close()
        return answer

    head, _, body = asyncio.run(ask()).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 ")
    assert json.loads(body)["error"] == "bad_gateway"

"""The proxy of `gateway.front`: read a request whole, then hand it to gunicorn.

One coroutine per client connection: the head must arrive within the header timeout and the
body within the body timeout (or the connection closes), h11 parses strictly (an ambiguous
Content-Length / Transfer-Encoding is a 400, never smuggled), and only then is the request
re-framed (Content-Length, `Connection: close`) and sent to gunicorn on a connection of its
own, whose whole answer is read before it is written back. Forwarding headers pass only
from the addresses allowed. Kept apart from `front`, which parses options and runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import h11

log = logging.getLogger("gateway.front")

READ_SIZE = 65536
MAX_HEAD_BYTES = 16384  # gunicorn's own limits (deploy/gunicorn.conf.py) apply after this
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)


@dataclass(frozen=True)
class Limits:
    """What a client gets before it is cut off; each a whole request's worth, not per read."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 5.0
    upstream_timeout: float = 60.0  # above gunicorn's worker timeout (35 s)
    max_body_bytes: int = 1024 * 1024  # the app refuses far less (MAX_CONTENT_LENGTH)
    max_connections: int = 1000


class Refused(Exception):
    """The client broke a limit: answer `status` (when a status can still be sent) and close."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _trusted(peer: object, allowed: Sequence[str]) -> bool:
    if "*" in allowed:
        return True
    if not isinstance(peer, tuple):
        return True  # a unix socket: only this machine's processes
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return False
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def _forwarding(name: bytes) -> bool:
    name = name.lower().replace(b"_", b"-")
    return name.startswith(b"x-forwarded-") or name in {
        b"forwarded",
        b"x-real-ip",
        b"script-name",
        b"path-info",
    }


class Front:
    """One listening socket; each connection is served by `serve_client`."""

    def __init__(self, upstream: str, limits: Limits, forwarded_allow: Sequence[str]) -> None:
        self.upstream = upstream
        self.limits = limits
        self.forwarded_allow = tuple(forwarded_allow)
        self.connections = 0

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream.startswith("unix:"):
            return await asyncio.open_unix_connection(self.upstream[len("unix:") :])
        host, _, port = self.upstream.rpartition(":")
        return await asyncio.open_connection(host.strip("[]"), int(port))

    async def serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            if self.connections > self.limits.max_connections:
                return
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as error:  # never a traceback for one client's connection
            log.warning("front: connection dropped on %s", type(error).__name__)
        finally:
            self.connections -= 1
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        trusted = _trusted(peer, self.forwarded_allow)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        first = True
        while True:
            try:
                request, body = await self._read_request(conn, reader, writer, first)
            except Refused as refused:
                if refused.status is not None:
                    await _write_raw(writer, refused.status, refused.reason)
                return
            if request is None:
                return  # the client closed, or stayed idle past keep-alive
            first = False
            status, headers, content = await self._forward(request, body, trusted)
            head = request.method == b"HEAD"
            kept = [
                (n, v)
                for n, v in headers
                if n.lower() not in HOP_BY_HOP or (head and n.lower() == b"content-length")
            ]
            if not head and status >= 200 and status not in (204, 304):
                kept.append((b"content-length", str(len(content)).encode()))
            out = conn.send(h11.Response(status_code=status, headers=kept)) or b""
            if content and not head:
                out += conn.send(h11.Data(data=content)) or b""
            writer.write(out + (conn.send(h11.EndOfMessage()) or b""))
            await asyncio.wait_for(writer.drain(), self.limits.upstream_timeout)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # h11 says the connection ends here (Connection: close, HTTP/1.0, ...)
            conn.start_next_cycle()

    async def _read_request(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first: bool,
    ) -> tuple[h11.Request | None, bytes]:
        """The next request, whole, or (None, b"") when the client is done."""
        loop = asyncio.get_running_loop()
        if not first and not conn.trailing_data[0]:
            try:  # a kept-alive connection: its next request starts within keep-alive
                await asyncio.wait_for(self._receive(conn, reader), self.limits.keepalive_timeout)
            except TimeoutError:
                return None, b""
        deadline = loop.time() + self.limits.header_timeout
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = self._next_event(conn)
            if event is h11.NEED_DATA:
                await self._receive_until(conn, reader, deadline)
                continue
            if isinstance(event, h11.Request):
                names = {name for name, _ in event.headers}
                if {b"content-length", b"transfer-encoding"} <= names:
                    # RFC 9112 §6.1: may be an attempt at request smuggling; refuse it
                    raise Refused(400, "Bad Request")
                request = event
                deadline = loop.time() + self.limits.body_timeout
                declared = _content_length(event)
                if declared is not None and declared > self.limits.max_body_bytes:
                    raise Refused(413, "Request Entity Too Large")
                if _expects_continue(event):  # the body comes to us, so we say "go on"
                    writer.write(
                        conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                    )
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.limits.max_body_bytes:
                    raise Refused(413, "Request Entity Too Large")
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return request, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                if request is None:
                    return None, b""
                raise Refused(None, "the client closed mid-request")

    @staticmethod
    def _next_event(conn: h11.Connection) -> object:
        try:
            return conn.next_event()
        except h11.RemoteProtocolError as error:
            raise Refused(error.error_status_hint, "Bad Request") from None

    async def _receive(self, conn: h11.Connection, reader: asyncio.StreamReader) -> bool:
        data = await reader.read(READ_SIZE)
        conn.receive_data(data)
        return bool(data)

    async def _receive_until(
        self, conn: h11.Connection, reader: asyncio.StreamReader, deadline: float
    ) -> None:
        """More bytes (or the end of the stream, which h11 turns into ConnectionClosed),
        unless the deadline of the head or body has passed: then 408 and close."""
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            await asyncio.wait_for(self._receive(conn, reader), remaining)
        except TimeoutError:
            raise Refused(408, "Request Timeout") from None

    async def _forward(
        self, request: h11.Request, body: bytes, trusted: bool
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        headers = [
            (name, value)
            for name, value in request.headers
            if name not in HOP_BY_HOP and name != b"expect" and (trusted or not _forwarding(name))
        ]
        headers += [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        try:
            return await asyncio.wait_for(
                self._exchange(request.method, request.target, headers, body),
                self.limits.upstream_timeout,
            )
        except TimeoutError:
            log.warning("front: the app did not answer within %s s", self.limits.upstream_timeout)
            return _error(504, "gateway_timeout", "The app did not answer in time.")
        except (OSError, h11.ProtocolError, asyncio.IncompleteReadError) as error:
            log.warning("front: the app is unreachable (%s)", type(error).__name__)
            return _error(502, "bad_gateway", "The app is not answering; try again.")

    async def _exchange(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        reader, writer = await self._open_upstream()
        try:
            conn = h11.Connection(h11.CLIENT)
            out = conn.send(h11.Request(method=method, target=target, headers=headers)) or b""
            out += (conn.send(h11.Data(data=body)) if body else b"") or b""
            writer.write(out + (conn.send(h11.EndOfMessage()) or b""))
            await writer.drain()
            response: h11.Response | None = None
            content = bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(READ_SIZE))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    content += event.data
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    if response is None:
                        raise asyncio.IncompleteReadError(bytes(content), None)
                    return response.status_code, list(response.headers), bytes(content)
        finally:
            writer.close()


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)
    return None


def _expects_continue(request: h11.Request) -> bool:
    return any(n == b"expect" and v.lower() == b"100-continue" for n, v in request.headers)


def _error(status: int, code: str, message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = f'{{"error": "{code}", "message": "{message}"}}'.encode()
    return status, [(b"content-type", b"application/json")], body


async def _write_raw(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    """An answer outside h11's state machine (no request was read): then the socket closes."""
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode()
    )
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(writer.drain(), 1.0)

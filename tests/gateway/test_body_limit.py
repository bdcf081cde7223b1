"""gateway.security.BoundedBody: a body without Content-Length gets the same 64 KiB limit.

tests/security/test_input_limits.py runs chunked bodies through the whole app; this checks
the wrapper alone: what it hands on, how much it reads, and what it leaves alone."""

from __future__ import annotations

import io
from typing import Any

from gateway.security import BoundedBody

LIMIT = 64 * 1024


class Counting(io.BytesIO):
    """A de-chunked stream that hands out at most 1000 bytes per read, as servers may."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed = 0

    def read(self, size: int | None = -1) -> bytes:
        part = super().read(min(size if size is not None and size >= 0 else 1000, 1000))
        self.handed += len(part)
        return part


def seen(environ: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        found.update(env, body=env["wsgi.input"].read())
        return [b""]

    BoundedBody(app, LIMIT)(environ, lambda *a: None)
    return found


def chunked(body: bytes) -> dict[str, Any]:
    return {
        "wsgi.input": Counting(body),
        "wsgi.input_terminated": True,
        "HTTP_TRANSFER_ENCODING": "chunked",
    }


def test_a_chunked_body_within_the_limit_is_handed_on_whole_with_its_length() -> None:
    body = b"a" * LIMIT
    found = seen(chunked(body))
    assert found["body"] == body
    assert found["CONTENT_LENGTH"] == str(LIMIT)
    assert "HTTP_TRANSFER_ENCODING" not in found


def test_a_chunked_body_over_the_limit_is_read_one_byte_past_it_and_no_further() -> None:
    environ = chunked(b"a" * (2 * 1024 * 1024))
    stream = environ["wsgi.input"]
    found = seen(environ)
    assert found["CONTENT_LENGTH"] == str(LIMIT + 1)  # Werkzeug answers 413 for this
    assert stream.handed == LIMIT + 1


def test_bodies_with_a_length_and_empty_bodies_are_left_alone() -> None:
    stream = io.BytesIO(b"x=1")
    found = seen({"wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_LENGTH": "3"})
    assert found["wsgi.input"] is stream and found["CONTENT_LENGTH"] == "3"
    found = seen(chunked(b""))
    assert found["body"] == b"" and "CONTENT_LENGTH" not in found
    stream = io.BytesIO(b"never read")
    found = seen({"wsgi.input": stream})  # no Content-Length, server did not terminate it
    assert found["wsgi.input"] is stream
    found = seen({"wsgi.input": stream, "wsgi.input_terminated": True})  # a GET, by gunicorn
    assert found["wsgi.input"] is stream

"""Response headers every answer carries, the Host check, and the body limit for chunked
requests.

No page loads anything from elsewhere, so the policy can be strict. `form-action` is left
out on purpose: a form that starts linking an account is answered by a redirect to the
provider, and Chromium applies `form-action` to that redirect too.

Pages run no script (`script-src 'none'`), with one exception a view asks for by name with
`@runs_own_scripts`: the interactive API page runs the vendored Swagger UI and its starter,
both files of the gateway's own static folder. Its policy lets in scripts, styles and
requests of the gateway's origin only (no inline script or style, no eval) and `data:`
images, which Swagger UI's stylesheet draws its icons with.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Flask, Response, abort, request

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
OWN_SCRIPTS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
OWN_SCRIPTS = "runs_own_scripts"

View = TypeVar("View", bound=Callable[..., Any])


def runs_own_scripts(view: View) -> View:
    """Mark a page that runs scripts from the gateway's static folder (and nothing else): it
    gets `OWN_SCRIPTS_POLICY` instead of the no-script one. Kept to the one page that needs
    it, so the exception is visible at the view and a test lists every marked endpoint."""
    setattr(view, OWN_SCRIPTS, True)
    return view


def scripted_endpoints(app: Flask) -> set[str]:
    """The endpoints whose view is marked with `runs_own_scripts`."""
    return {name for name, view in app.view_functions.items() if getattr(view, OWN_SCRIPTS, False)}


def install_security_headers(app: Flask, *, https: bool) -> None:
    """The headers every answer carries unless its view set its own: built once per app,
    and each endpoint's choice of policy looked up once (views are fixed once it serves)."""
    common = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cache-Control", "no-store"),
    ]
    if https:
        common.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    # (lower-case name, name, value): header names are compared case-insensitively
    plain = tuple(
        (name.lower(), name, value)
        for name, value in (("Content-Security-Policy", CONTENT_SECURITY_POLICY), *common)
    )
    scripted = tuple(
        (name.lower(), name, value)
        for name, value in (("Content-Security-Policy", OWN_SCRIPTS_POLICY), *common)
    )
    by_endpoint: dict[str, tuple[tuple[str, str, str], ...]] = {}

    def defaults_for(endpoint: str) -> tuple[tuple[str, str, str], ...]:
        found = by_endpoint.get(endpoint)
        if found is None:
            view = app.view_functions.get(endpoint)
            found = scripted if getattr(view, OWN_SCRIPTS, False) else plain
            by_endpoint[endpoint] = found
        return found

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        present = set(headers.keys(lower=True))
        for lower, name, value in defaults_for(request.endpoint or ""):
            if lower not in present:
                headers.add(name, value)
        return response


# host[:port], host a name, an IPv4 address or a bracketed IPv6 one (RFC 9110 §7.2); which
# hosts are trusted is Flask's TRUSTED_HOSTS check, which ignores the port.
HOST_PORT = re.compile(r"(?:\[[^\]]*\]|[^:\[\]]*)(?::(\d*))?")


def install_host_check(app: Flask) -> None:
    """A Host whose port is not a number from 1 to 65535 is a 400, before anything reads it
    (Python's URL parsing raises on such a port, which would be a 500)."""

    @app.before_request
    def check_host_port() -> None:
        found = HOST_PORT.fullmatch(request.host)
        port = found.group(1) if found else None
        if found is None or (port and not 1 <= int(port) <= 65535):
            abort(400, "The Host header's port must be a number from 1 to 65535.")


def install_body_limit(app: Flask, limit: int) -> None:
    """MAX_CONTENT_LENGTH for bodies without a Content-Length too (see BoundedBody)."""
    app.wsgi_app = BoundedBody(app.wsgi_app, limit)  # type: ignore[method-assign]


class BoundedBody:
    """A chunked body, which the server de-chunked (`wsgi.input_terminated`), is read here,
    at most `limit` + 1 bytes, and handed on with the Content-Length it has. A request with
    neither Content-Length nor Transfer-Encoding has no body (RFC 9112 §6.3) and is passed
    through untouched: gunicorn marks every request terminated, bodiless GETs included.

    Werkzeug refuses a Content-Length over MAX_CONTENT_LENGTH with 413 when the body is
    first read, but it cuts a chunked body at the limit without a word, so the parser saw a
    truncated body (400, or a form with a cut value). One byte over the limit now gives
    Werkzeug's own 413 through the usual error handlers; the rest is never read."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.wsgi_app = wsgi_app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if (
            environ.get("wsgi.input_terminated")
            and not environ.get("CONTENT_LENGTH")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            body = _read_at_most(environ["wsgi.input"], self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            if body:  # now a body of known length (Werkzeug ignores one sent chunked)
                environ["CONTENT_LENGTH"] = str(len(body))
                environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream: Any, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)

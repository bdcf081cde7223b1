"""T31 + RFC 9700 R10 (§4.16), ASVS 5.0 3.4.1, 3.4.3-3.4.6, 14.3.2: the security headers are
on every kind of answer, not just the landing page (which test_app.py checks).

Kinds: HTML page, JSON, JSON error (401/404/405/400/413), HTML error (404/405/413), a
redirect, the 400 for an untrusted Host, the static stylesheet, HEAD and OPTIONS, the
OpenAPI document, the metrics-free probes; in local-dev and behind https (HSTS)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

BIG = "a" * (65 * 1024)
ANSWERS: list[tuple[str, str, dict[str, Any], int]] = [
    # (method, path, request kwargs, expected status)
    ("GET", "/", {}, 200),
    ("GET", "/processing-register", {}, 200),
    ("GET", "/api", {}, 200),
    ("GET", "/openapi.json", {}, 200),
    ("GET", "/v1/processing-register", {}, 200),
    ("GET", "/healthz", {}, 200),
    ("GET", "/readyz", {}, 200),
    ("GET", "/static/style.css", {}, 200),
    ("HEAD", "/", {}, 200),
    ("OPTIONS", "/v1/rooms", {}, 401),
    ("OPTIONS", "/", {}, 200),
    ("GET", "/auth/login/google", {}, 302),
    ("GET", "/account", {}, 303),
    ("GET", "/v1/rooms", {}, 401),
    ("GET", "/v1/me", {}, 401),
    ("GET", "/v1/nothing-here", {}, 404),
    ("GET", "/nothing-here", {}, 404),
    ("GET", "/nothing-here", {"headers": {"Accept": "application/json"}}, 404),
    ("GET", "/auth/login/myspace", {}, 404),
    ("PUT", "/v1/freebusy", {}, 405),
    ("DELETE", "/", {}, 405),
    ("POST", "/auth/logout", {}, 400),
    ("GET", "/auth/callback/google", {"query_string": {"state": "x", "code": "y"}}, 400),
    ("POST", "/auth/logout", {"data": {"x": BIG}}, 413),
    ("POST", "/auth/logout", {"data": {"x": BIG}, "headers": {"Accept": "application/json"}}, 413),
    ("POST", "/auth/callback/microsoft", {"data": {"state": BIG}}, 413),
    ("GET", "/", {"base_url": "http://evil.example"}, 400),
]


# Public, non-personal documents that may be cached (everything else: no-store).
CACHEABLE = ("/static/", "/v1/processing-register", "/processing-register", "/openapi.json")


def check(response: Any, *, https: bool, path: str) -> None:
    response.close()
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    for directive in ("frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
        assert directive in csp, (path, csp)
    assert "default-src 'none'" in csp
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("Referrer-Policy") == "no-referrer"
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin"
    if not path.startswith(CACHEABLE):
        assert "no-store" in headers.get("Cache-Control", ""), path
    else:
        assert "private" not in headers.get("Cache-Control", "")
    assert "Server" not in headers or "Werkzeug" not in headers["Server"]  # ASVS 13.4.6
    hsts = headers.get("Strict-Transport-Security")
    if https:
        assert hsts is not None, path
        assert "includeSubDomains" in hsts
        assert int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000
    else:
        assert hsts is None  # never over plain http (RFC 6797 §7.2)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    ANSWERS,
    ids=[f"{m} {p} {s}" + (" json" if "headers" in k else "") for m, p, k, s in ANSWERS],
)
def test_every_kind_of_answer_carries_the_headers(
    app: Flask, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    """T31 / R10 on http (local development): CSP, nosniff, DENY, no-referrer, no-store."""
    response = app.test_client().open(path, method=method, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    check(response, https=False, path=path)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    ANSWERS,
    ids=[f"{m} {p} {s}" + (" json" if "headers" in k else "") for m, p, k, s in ANSWERS],
)
def test_behind_https_every_kind_of_answer_also_carries_hsts(
    build_gateway: Any,
    make_env: Any,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    """T31: HSTS `max-age ≥ 31536000; includeSubDomains` on 100% of https answers."""
    app = build_gateway(
        make_env(GATEWAY_PUBLIC_URL="https://gw.example", GATEWAY_TRUSTED_HOSTS="gw.example")
    )
    kwargs = dict(kwargs)
    kwargs["base_url"] = kwargs.get("base_url", "https://gw.example").replace("http:", "https:")
    response = app.test_client().open(path, method=method, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    check(response, https=True, path=path)


@pytest.mark.parametrize("path", ["/v1/processing-register", "/processing-register"])
def test_an_unexpected_error_still_carries_the_headers(app: Flask, path: str) -> None:
    """T31 on the last-resort 500 handler (ASVS 16.5.4), JSON and HTML."""

    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    endpoint = app.url_map.bind("127.0.0.1").match(path)[0]
    app.view_functions[endpoint] = explode  # this app instance only
    response = app.test_client().get(path)
    assert response.status_code == 500
    assert "boom" not in response.get_data(as_text=True)
    check(response, https=False, path=path)

"""The Content-Security-Policy: no page runs a script, but /api, which runs Swagger UI and
its starter from the gateway's own static folder and nothing else (gateway/security.py)."""

from __future__ import annotations

import pytest
from flask import Flask

from gateway.security import CONTENT_SECURITY_POLICY, OWN_SCRIPTS_POLICY, scripted_endpoints
from tests.gateway.blueprints.test_api_v1 import wire_api


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    wire_api(app)


def directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        found[name] = values
    return found


def test_api_is_the_one_page_allowed_scripts(app: Flask) -> None:
    assert scripted_endpoints(app) == {"api_v1.api_page"}


def test_the_api_page_runs_only_the_gateways_own_files(app: Flask) -> None:
    answer = app.test_client().get("/api")
    assert answer.status_code == 200
    policy = directives(answer.headers["Content-Security-Policy"])
    assert policy == {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "connect-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
    assert answer.headers["Content-Security-Policy"] == OWN_SCRIPTS_POLICY
    for loose in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "blob:"):
        assert loose not in OWN_SCRIPTS_POLICY.split(), loose


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/processing-register", 200),
        ("/openapi.json", 200),
        ("/static/api-docs.js", 200),
        ("/static/swagger-ui/swagger-ui-bundle.js", 200),
        ("/api/", 404),
        ("/api?x=<script>", 200),
        ("/account", 303),
        ("/v1/rooms", 401),
    ],
)
def test_every_other_answer_keeps_the_no_script_policy(app: Flask, path: str, status: int) -> None:
    """Only the page itself: its scripts, its neighbours, its errors are as strict as ever
    (the scripts are not pages; `/api?...` is the page and has the page's policy)."""
    answer = app.test_client().get(path)
    answer.close()  # a static file's stream
    assert answer.status_code == status
    expected = OWN_SCRIPTS_POLICY if path.startswith("/api?") else CONTENT_SECURITY_POLICY
    assert answer.headers["Content-Security-Policy"] == expected
    if expected == CONTENT_SECURITY_POLICY:
        assert directives(expected)["script-src"] == ["'none'"]

"""What every answer looks like: JSON errors for programs, pages for people, safe headers."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from gateway import create_app


def test_api_errors_share_one_json_shape(client: FlaskClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "not_found",
        "message": response.get_json()["message"],
    }


def test_people_get_a_friendly_page(client: FlaskClient) -> None:
    response = client.get("/nothing-here", headers={"Accept": "text/html"})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<h1>Not found</h1>" in page
    assert "Back to the start page" in page


def test_an_unexpected_error_shows_no_stack_trace(app: Flask, caplog: Any) -> None:
    def explode() -> str:
        raise RuntimeError("secret-value-in-exception")

    app.add_url_rule("/v1/explode", "explode", explode)
    response = app.test_client().get("/v1/explode")
    assert response.status_code == 500
    assert response.get_json() == {
        "error": "internal_error",
        "message": "Something went wrong on our side.",
    }
    assert "secret-value-in-exception" not in caplog.text


def test_an_oversized_body_is_refused(client: FlaskClient) -> None:
    response = client.post("/auth/logout", data={"x": "a" * (65 * 1024)})
    assert response.status_code == 413


def test_a_foreign_host_header_is_refused(client: FlaskClient) -> None:
    response = client.get("/", base_url="http://evil.example")
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_forms_need_a_csrf_token(client: FlaskClient) -> None:
    response = client.post("/auth/logout", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "csrf_failed"


def test_security_headers_are_on_every_answer(client: FlaskClient) -> None:
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_the_landing_page_offers_every_provider(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    for provider in ("google", "microsoft", "emulator"):
        assert f'href="/auth/login/{provider}"' in page
    assert "http://" not in page.replace("http://127.0.0.1", "")  # no external assets


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readiness_fails_fast_without_redis(make_env: Any) -> None:
    app = create_app(make_env(GATEWAY_REDIS_URL="redis://127.0.0.1:1/0"))
    client = app.test_client()
    response = client.get("/readyz", base_url="http://127.0.0.1:8000")
    assert response.status_code == 503
    assert response.get_json()["error"] == "storage_unavailable"
    assert client.get("/healthz", base_url="http://127.0.0.1:8000").status_code == 200

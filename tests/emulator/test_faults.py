"""Faults replace an endpoint's answer (FIFO per endpoint) and every call is counted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from emulator.client import EmulatorError

GOOGLE_DISCOVERY = "/.well-known/openid-configuration"


def token_call(emu: Any, browser: Any, path: str = "/token") -> Any:
    return browser.post(
        emu.url + path,
        data={"grant_type": "refresh_token", "refresh_token": "unknown"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )


def test_429_with_retry_after_then_back_to_normal(emu: Any, browser: Any) -> None:
    emu.client.fault("google.discovery", status=429, retry_after=2.5)
    limited = browser.get(emu.url + GOOGLE_DISCOVERY)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2.5"
    assert limited.json()["error"] == "temporarily_unavailable"
    assert browser.get(emu.url + GOOGLE_DISCOVERY).status_code == 200
    assert emu.client.calls()["google.discovery"] == 2


def test_503_on_a_microsoft_token_endpoint_is_aadsts_shaped(emu: Any, browser: Any) -> None:
    emu.client.fault("microsoft.token", status=503, retry_after=1)
    answer = token_call(emu, browser, "/organizations/oauth2/v2.0/token")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["error"] == "temporarily_unavailable"
    assert answer.json()["error_codes"]


def test_a_delay_then_the_real_answer(emu: Any, browser: Any) -> None:
    emu.client.fault("oidc.jwks", delay_ms=300)
    started = time.monotonic()
    answer = browser.get(emu.url + "/generic/jwks")
    assert time.monotonic() - started >= 0.3
    assert answer.status_code == 200
    assert answer.json()["keys"]


def test_a_malformed_body(emu: Any, browser: Any) -> None:
    emu.client.fault("google.token", body="malformed")
    answer = token_call(emu, browser)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


@pytest.mark.parametrize(
    ("endpoint", "path", "code_field"),
    [
        ("google.token", "/token", None),
        ("microsoft.token", "/common/oauth2/v2.0/token", "error_codes"),
    ],
)
def test_invalid_grant_is_provider_shaped(
    emu: Any, browser: Any, endpoint: str, path: str, code_field: str | None
) -> None:
    emu.client.fault(endpoint, error="invalid_grant")
    answer = token_call(emu, browser, path)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_grant"
    if code_field:
        assert body[code_field] == [70008]
    else:
        assert body["error_description"] == "Token has been expired or revoked."


def test_faults_queue_in_order_and_times_counts_down(emu: Any, browser: Any) -> None:
    emu.client.fault("google.jwks", status=500, times=2)
    emu.client.fault("google.jwks", status=503)
    statuses = [browser.get(emu.url + "/oauth2/v3/certs").status_code for _ in range(4)]
    assert statuses == [500, 500, 503, 200]
    emu.client.fault("google.jwks", status=503, times=-1)
    assert {browser.get(emu.url + "/oauth2/v3/certs").status_code for _ in range(3)} == {503}
    emu.client.reset()
    assert browser.get(emu.url + "/oauth2/v3/certs").status_code == 200
    assert emu.client.calls() == {"google.jwks": 1}


@pytest.mark.parametrize(
    "bad",
    [
        {"endpoint": "google.nothing"},
        {"endpoint": "google.token", "times": 0},
        {"endpoint": "google.token", "body": "weird"},
        {"endpoint": "google.jwks", "error": "invalid_grant"},
        {"endpoint": "google.token", "status": 42},
    ],
)
def test_bad_faults_are_refused(emu: Any, bad: dict[str, Any]) -> None:
    answer = emu.client.http.post(f"{emu.url}/_emulator/faults", json=bad, timeout=5)
    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "message"}


def test_the_client_raises_on_refusal(emu: Any) -> None:
    with pytest.raises(EmulatorError) as refused:
        emu.client.fault("nowhere.token")
    assert refused.value.status == 400


def test_clearing_the_faults_ends_an_outage_and_keeps_grants_events_and_counters(
    emu: Any, browser: Any
) -> None:
    emu.client.add_event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    emu.client.set_grant("alice@example.com", DEFAULT_CLIENT_ID, ["openid", "email"])
    emu.client.fault("google.discovery", status=503, times=-1)
    emu.client.fault("google.token", status=500)
    assert browser.get(emu.url + GOOGLE_DISCOVERY).status_code == 503

    assert emu.client.clear_faults() == 2

    assert browser.get(emu.url + GOOGLE_DISCOVERY).status_code == 200
    assert token_call(emu, browser).status_code != 500
    assert emu.client.calls()["google.discovery"] == 2
    assert emu.client.clear_faults() == 0
    with emu.state.lock:  # what /reset would have forgotten is all still there
        assert len(emu.state.events) == 1
        assert [client for _, client in emu.state.grants] == [DEFAULT_CLIENT_ID]

"""The control API: JSON in, JSON out, 400 with {error, message} for bad input."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import DEFAULT_CLIENT_ID

CONTROL_CALLS = [
    ("POST", "authorize-next", {"account": "nobody@nowhere.example"}),
    ("POST", "authorize-next", {"account": "alice@example.com", "grant": "some"}),
    ("POST", "authorize-next", {"account": "alice@example.com", "deny": "yes"}),
    ("POST", "id-token-next", {"tamper": "everything"}),
    ("POST", "accounts", {"email": "x@example.com", "name": "X", "provider": "myspace"}),
    ("POST", "accounts", {"email": "x@example.com", "name": "X", "provider": "microsoft"}),
    (
        "POST",
        "events",
        {
            "account": "alice@example.com",
            "start": "2026-01-05T10:00:00",
            "end": "2026-01-05T11:00:00",
        },
    ),
    (
        "POST",
        "events",
        {
            "account": "alice@example.com",
            "start": "2026-01-05T11:00:00Z",
            "end": "2026-01-05T10:00:00Z",
        },
    ),
    ("POST", "clients", {"client_id": "c", "client_secret": "s", "redirect_uris": []}),
    (
        "POST",
        "clients",
        {"client_id": "c", "client_secret": "s", "redirect_uris": ["javascript:alert(1)"]},
    ),
    ("POST", "grants", {"account": "alice@example.com", "client_id": "c", "scopes": "openid"}),
    ("POST", "settings", {"access_token_ttl": -1}),
    ("POST", "settings", {"colour": "blue"}),
    ("POST", "faults", "not an object"),
    ("POST", "faults", {"endpoint": "google.token", "error": "insufficient_scope"}),
    ("POST", "faults", {"endpoint": "google.freebusy", "error": "invalid_grant"}),
    ("POST", "faults", {"endpoint": "google.token", "error": "interaction_required"}),
    (
        "POST",
        "events",
        {
            "account": "alice@example.com",
            "start": "2026-01-05T10:00:00Z",
            "end": "2026-01-05T11:00:00Z",
            "view_code": "22",
        },
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS)
def test_bad_input_is_a_400_json_error(emu: Any, method: str, path: str, body: Any) -> None:
    answer = emu.client.http.request(method, f"{emu.url}/_emulator/{path}", json=body, timeout=5)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error", "message"}
    assert "Traceback" not in answer.text


def test_unknown_paths_are_json_404s(emu: Any, browser: Any) -> None:
    answer = browser.get(emu.url + "/_emulator/nothing")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_accounts_list_the_shipped_people(emu: Any) -> None:
    accounts = {a["email"]: a for a in emu.client.accounts()}
    assert accounts["alice@example.com"]["provider"] == "google"
    assert accounts["carol@contoso.example"]["tenant"] == "11111111-1111-4111-8111-111111111111"
    assert accounts["mallory@fabrikam.example"]["tenant"] == "22222222-2222-4222-8222-222222222222"
    assert accounts["frank@outlook.example"]["tenant"] == "9188040d-6c67-4c5b-b112-36a304b66dad"
    assert accounts["erin@oidc.example"]["provider"] == "oidc"


def test_added_accounts_get_stable_subjects(emu: Any) -> None:
    first = emu.client.add_account(
        "zoe@contoso.example", "Zoe", "microsoft", "11111111-1111-4111-8111-111111111111"
    )
    emu.client.reset()
    again = emu.client.add_account(
        "zoe@contoso.example", "Zoe", "microsoft", "11111111-1111-4111-8111-111111111111"
    )
    assert first["subject"] == again["subject"]


def test_settings_change_and_reset_restores_them(emu: Any) -> None:
    assert emu.client.settings(access_token_ttl=5)["access_token_ttl"] == 5
    emu.client.reset()
    assert emu.client.settings()["access_token_ttl"] == 3599


def test_registered_clients_survive_a_reset(emu: Any) -> None:
    emu.client.register_client("other", "other-secret", ["https://app.example/cb"])
    emu.client.reset()
    answer = emu.client.http.get(
        f"{emu.url}/o/oauth2/v2/auth",
        params={
            "client_id": "other",
            "redirect_uri": "https://app.example/cb",
            "response_type": "code",
            "scope": "openid",
        },
        timeout=5,
    )
    assert answer.status_code == 200  # the account page, not "invalid_client"
    assert DEFAULT_CLIENT_ID  # the default client is still there as well


def test_an_event_keeps_every_field_a_real_event_has(emu: Any) -> None:
    """So leakage tests can plant a marker in each (tests/security/test_leakage.py)."""
    event_id = emu.client.add_event(
        "alice@example.com",
        "2026-01-05T10:00:00Z",
        "2026-01-05T11:00:00Z",
        summary="Title marker",
        location="Location marker",
        attendees=["attendee.marker@example.com"],
        description="Description marker",
        organizer="organizer.marker@example.com",
    )
    with emu.state.lock:
        [event] = [e for e in emu.state.events if e.id == event_id]
    assert (event.summary, event.location, event.attendees) == (
        "Title marker",
        "Location marker",
        ("attendee.marker@example.com",),
    )
    assert event.description == "Description marker"
    assert event.organizer == "organizer.marker@example.com"
    bad = {"account": "alice@example.com", "start": "2026-01-05T10:00:00Z"}
    bad |= {"end": "2026-01-05T11:00:00Z", "description": 42}
    answer = emu.client.http.post(f"{emu.url}/_emulator/events", json=bad, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"

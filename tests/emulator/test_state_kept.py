"""With a state file, a restarted emulator still honours the tokens it issued before, keeps
its events, added accounts and grants, and serves with the same CA."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start_emulator
from tests.emulator.conftest import answer_of

CALLBACK = "http://127.0.0.1:8000/auth/callback/google"
FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
ALICE = "alice@example.com"


def tokens_of(emulator: Any) -> dict[str, Any]:
    oauth = OAuth2Session(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        scope=f"openid email profile {FREEBUSY}",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        verify=str(emulator.ca_path),
        trust_env=False,
    )
    verifier = secrets.token_urlsafe(64)
    url, _ = oauth.create_authorization_url(
        f"{emulator.url}/o/oauth2/v2/auth", code_verifier=verifier, access_type="offline"
    )
    emulator.client.authorize_next(ALICE)
    http = requests.Session()
    http.verify = str(emulator.ca_path)
    http.trust_env = False
    code = answer_of(http.get(url, allow_redirects=False, timeout=10))["code"]
    token: dict[str, Any] = oauth.fetch_token(
        f"{emulator.url}/token", code=code, code_verifier=verifier
    )
    return token


def busy(emulator: Any, access_token: str) -> list[Any]:
    answer = requests.post(
        f"{emulator.url}/calendar/v3/freeBusy",
        json={
            "timeMin": "2030-01-07T00:00:00Z",
            "timeMax": "2030-01-08T00:00:00Z",
            "items": [{"id": "primary"}],
        },
        headers={"Authorization": f"Bearer {access_token}"},
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["calendars"]["primary"]["busy"])


def test_tokens_events_and_accounts_survive_a_restart(tmp_path: Path) -> None:
    state, ca = tmp_path / "emulator-state.json", tmp_path / "ca.pem"
    with start_emulator(ca_path=ca, state_path=state) as first:
        token = tokens_of(first)
        first.client.add_event(
            ALICE, "2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z", event_id="standup"
        )
        # the same id again replaces the event instead of adding a second one
        first.client.add_event(
            ALICE, "2030-01-07T09:30:00Z", "2030-01-07T10:30:00Z", event_id="standup"
        )
        first.client.add_account("zoe@example.com", "Zoe Added", "google")
        assert len(busy(first, token["access_token"])) == 1
        ca_before = ca.read_bytes()
    assert state.stat().st_mode & 0o077 == 0

    with start_emulator(ca_path=ca, state_path=state) as second:
        assert ca.read_bytes() == ca_before  # a browser that trusted it still does
        assert busy(second, token["access_token"]) == [
            {"start": "2030-01-07T09:30:00Z", "end": "2030-01-07T10:30:00Z"}
        ]
        refreshed = requests.post(
            f"{second.url}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token["refresh_token"],
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
            verify=str(ca),
            timeout=10,
        )
        assert refreshed.status_code == 200, refreshed.text
        assert "zoe@example.com" in {a["email"] for a in second.client.accounts()}


def test_without_a_state_file_a_restart_forgets(tmp_path: Path) -> None:
    with start_emulator(ca_path=tmp_path / "ca.pem") as first:
        token = tokens_of(first)
    with start_emulator(ca_path=tmp_path / "ca.pem") as second:
        refused = requests.post(
            f"{second.url}/calendar/v3/freeBusy",
            json={"timeMin": "2030-01-07T00:00:00Z", "timeMax": "2030-01-08T00:00:00Z"},
            headers={"Authorization": f"Bearer {token['access_token']}"},
            verify=str(tmp_path / "ca.pem"),
            timeout=10,
        )
        assert refused.status_code == 401

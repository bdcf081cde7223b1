"""Shared by the grant tests: connectors pointed at the emulator, and the browser's step.

The emulator comes from tests/conftest.py (`emulator` fixture: running over HTTPS, reset
before each test). The connectors use a client of their own, registered for each test, so
that other tests re-registering the default client cannot change these.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from connectors.base import Connector
from connectors.google import GoogleConnector
from connectors.microsoft import MicrosoftConnector
from connectors.values import Identity, TokenSet

CALLBACK = "http://127.0.0.1:8000/auth/callback"
CLIENT_ID = "connector-grant-tests"
CLIENT_SECRET = "connector-grant-tests-secret-9f3b2c71d0"
CONTOSO = "11111111-1111-4111-8111-111111111111"
ALICE = "alice@example.com"
CAROL = "carol@contoso.example"
FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
CALENDARS = "Calendars.ReadBasic"
GOOGLE_SIGN_IN = frozenset(
    {
        "openid",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    }
)


def register(emulator: Any) -> None:
    callbacks = [f"{CALLBACK}/{name}" for name in ("google", "microsoft")]
    emulator.client.register_client(CLIENT_ID, CLIENT_SECRET, callbacks)


def google(emulator: Any) -> GoogleConnector:
    register(emulator)
    return GoogleConnector(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        discovery_url=f"{emulator.url}/.well-known/openid-configuration",
        ca_bundle=str(emulator.ca_path),
    )


def microsoft(emulator: Any) -> MicrosoftConnector:
    register(emulator)
    return MicrosoftConnector(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        tenant="organizations",
        allowed_tenants=frozenset({CONTOSO}),
        authority_base=emulator.url,
        ca_bundle=str(emulator.ca_path),
    )


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.fields[str(found["name"])] = found.get("value") or ""


def provider_answer(emulator: Any, url: str) -> dict[str, str]:
    """What the browser brings back from the provider: a redirect's query or a form_post."""
    with requests.Session() as http:
        http.verify = str(emulator.ca_path)
        http.trust_env = False
        response = http.get(url, allow_redirects=False, timeout=10)
    if response.status_code in (302, 303):
        location = response.headers["Location"]
        assert location.startswith(CALLBACK), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert response.status_code == 200, response.text
    form = _Form()
    form.feed(response.text)
    return form.fields


def authorize(
    connector: Connector,
    emulator: Any,
    account: str,
    scopes: tuple[str, ...],
    **answer: Any,
) -> Identity:
    """begin → the emulator answers as `account` (authorize_next) → complete."""
    redirect_uri = f"{CALLBACK}/{connector.name}"
    request = connector.begin(redirect_uri, secrets.token_urlsafe(16), scopes)
    emulator.client.authorize_next(account, **answer)
    params = provider_answer(emulator, request.url)
    return connector.complete(redirect_uri, request.flow, params)


def grant(connector: Connector, emulator: Any, account: str, scope: str, **answer: Any) -> TokenSet:
    identity = authorize(connector, emulator, account, (scope,), **answer)
    assert identity.tokens is not None
    return identity.tokens


def calls(emulator: Any, endpoint: str) -> int:
    return emulator.client.calls().get(endpoint, 0)


def secrets_of(*token_sets: TokenSet) -> list[str]:
    """Every token string the sets hold (access, refresh, and those inside an MSAL cache)."""
    import json

    found: list[str] = []
    for tokens in token_sets:
        found += [t for t in (tokens.access_token, tokens.refresh_token) if t]
        if tokens.cache:
            for section in json.loads(tokens.cache).values():
                found += [e["secret"] for e in section.values() if e.get("secret")]
    return found


def assert_nothing_secret(texts: Iterable[str], token_sets: Iterable[TokenSet]) -> None:
    hidden = [*secrets_of(*token_sets), CLIENT_SECRET]
    for text in texts:
        for secret in hidden:
            assert secret not in text

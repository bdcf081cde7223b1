"""The generic OpenID Connect connector against the emulator's /generic provider over HTTPS:
which issuer a discovery document may name, and that its exact value is what is pinned."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask

from tests.conftest import SignIn
from tests.security.support import csrf_token

GENERIC_ACCOUNT = "erin@oidc.example"


def test_an_issuer_with_a_trailing_slash_signs_in_and_is_pinned_exactly(
    app: Flask, sign_in: SignIn, emulator: Any
) -> None:
    """OpenID Connect Discovery §4.3: `https://tenant.example.auth0.com/` publishes its
    document under `https://tenant.example.auth0.com/.well-known/...`; both spellings of the
    prefix are accepted, and then the document's own value is the only one."""
    slashed = f"{emulator.url}/generic/"
    emulator.client.settings(generic_issuer=slashed)
    done = sign_in.complete("emulator", GENERIC_ACCOUNT)
    assert done.status_code == 303, done.get_data(as_text=True)
    assert sign_in.client.get("/v1/me").status_code == 200
    connector = app.extensions["gateway"].signin.connectors["emulator"]
    assert connector.expected_issuer == slashed

    # The ID token now names the issuer without the slash: not the pinned value, refused.
    out = sign_in.client.post("/auth/logout", data={"csrf_token": csrf_token(sign_in.client)})
    assert out.status_code == 303
    emulator.client.settings(generic_issuer=f"{emulator.url}/generic")
    refused = sign_in.complete("emulator", GENERIC_ACCOUNT)
    assert refused.status_code == 400, refused.get_data(as_text=True)
    assert "<code>id_token_invalid</code>" in refused.get_data(as_text=True)
    assert sign_in.client.get("/v1/me").status_code == 401


@pytest.mark.parametrize("issuer", ["{url}/generic//", "{url}/genericx", "{url}", "https://evil"])
def test_a_discovery_document_naming_another_issuer_is_refused(
    sign_in: SignIn, emulator: Any, issuer: str
) -> None:
    """Anything but the prefix itself, with or without one slash, is another issuer."""
    emulator.client.settings(generic_issuer=issuer.format(url=emulator.url))
    answer = sign_in.client.get("/auth/login/emulator")
    assert answer.status_code == 502, answer.get_data(as_text=True)
    assert "Traceback" not in answer.get_data(as_text=True)


def test_the_code_exchange_goes_through_the_connectors_own_connection_pool(
    app: Flask, sign_in: SignIn, emulator: Any
) -> None:
    """A sign-in's token request uses the pool that discovery and the signing keys use, so
    against a provider that keeps connections alive it pays no new TCP connect, TLS
    handshake or CA bundle load (README "Benchmarks": most of the gateway's own time)."""
    connector = app.extensions["gateway"].signin.connectors["emulator"]
    first = sign_in.complete("emulator", GENERIC_ACCOUNT)  # discovery and keys read, kept
    assert first.status_code == 303, first.get_data(as_text=True)
    pool = connector._session.get_adapter(emulator.url).get_connection_with_tls_context(
        connector._session.prepare_request(requests.Request("GET", emulator.url)),
        verify=connector._session.verify,
    )
    before = pool.num_requests

    out = sign_in.client.post("/auth/logout", data={"csrf_token": csrf_token(sign_in.client)})
    assert out.status_code == 303
    again = sign_in.complete("emulator", GENERIC_ACCOUNT)
    assert again.status_code == 303, again.get_data(as_text=True)
    assert sign_in.client.get("/v1/me").status_code == 200
    assert pool.num_requests == before + 1  # the code exchange, nothing else, and through it

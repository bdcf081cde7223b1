"""T6 / RFC 9700 R8 (§2.6, §4.13), ASVS 5.0 4.1.3: the redirect_uri is configuration, never
taken from `Host`, `X-Forwarded-Host`, `X-Forwarded-Proto` or `Forwarded`.

test_app.py checks that a foreign `Host` is refused; here every spoofing header, alone and
combined, is sent to the start of a sign-in, and the `redirect_uri` the provider received
(recorded by the emulator) must be byte-identical to the configured one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

PROVIDERS = ("google", "microsoft", "emulator")
SPOOFS: list[dict[str, str]] = [
    {},
    {"X-Forwarded-Host": "evil.example"},
    {"X-Forwarded-Host": "evil.example:443", "X-Forwarded-Proto": "https"},
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Proto": "javascript"},
    {"X-Forwarded-Port": "4443", "X-Forwarded-Prefix": "/evil"},
    {"Forwarded": "host=evil.example;proto=https"},
    {"X-Original-Host": "evil.example", "X-Host": "evil.example"},
    {"X-Forwarded-Server": "evil.example", "X-Forwarded-Host": "127.0.0.1:8000, evil.example"},
]


def redirect_uri_sent(client: FlaskClient, sign_in: Any, emulator: Any, **kwargs: Any) -> str:
    """Start a sign-in, follow it to the provider, and read what the provider received."""
    response = client.get(f"/auth/login/{kwargs.pop('provider')}", **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    in_url = parse_qs(urlsplit(location).query)["redirect_uri"][0]
    sign_in.http.get(location, allow_redirects=False, timeout=10)
    received = emulator.client.authorizations()[-1]["params"]["redirect_uri"]
    assert received == in_url
    return str(received)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("headers", SPOOFS, ids=lambda h: "+".join(h) or "none")
def test_forwarded_headers_never_change_the_redirect_uri(
    client: FlaskClient, sign_in: Any, emulator: Any, provider: str, headers: dict[str, str]
) -> None:
    """T6: 100% byte-identical to the configured constant (ASVS 4.1.3; RFC 9700 §4.13)."""
    sent = redirect_uri_sent(client, sign_in, emulator, provider=provider, headers=headers)
    assert sent == f"http://127.0.0.1:8000/auth/callback/{provider}"


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.evil.example", "evil.example:8000", "localhost"]
)
def test_an_untrusted_host_gets_400_and_no_authorization_request(
    client: FlaskClient, emulator: Any, host: str
) -> None:
    """T6: "an untrusted Host → 400" (RFC 9700 R8), and nothing reaches the provider."""
    response = client.get("/auth/login/google", base_url=f"http://{host}")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert emulator.client.authorizations() == []


def test_an_extra_trusted_host_still_gets_the_configured_redirect_uri(
    build_gateway: Any, make_env: Any, sign_in: Any, emulator: Any
) -> None:
    """GATEWAY_TRUSTED_HOSTS widens what `Host` may say, never where the provider sends
    the code (RFC 9700 §4.13)."""
    app = build_gateway(make_env(GATEWAY_TRUSTED_HOSTS="alt.example"))
    client = app.test_client()
    sent = redirect_uri_sent(
        client,
        sign_in,
        emulator,
        provider="google",
        base_url="http://alt.example",
        headers={"X-Forwarded-Host": "evil.example"},
    )
    assert sent == "http://127.0.0.1:8000/auth/callback/google"


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Forwarded-Proto": "http"}, {"X-Forwarded-Host": "evil.example"}],
    ids=["none", "proto-http", "xfh"],
)
def test_behind_https_the_redirect_uri_stays_https(
    build_gateway: Any,
    make_env: Any,
    sign_in: Any,
    emulator: Any,
    headers: dict[str, str],
) -> None:
    """RFC 9700 §2.6: authorization responses never over plain http, whatever the proxy says."""
    app: Flask = build_gateway(
        make_env(GATEWAY_PUBLIC_URL="https://gw.example", GATEWAY_TRUSTED_HOSTS="gw.example")
    )
    client = app.test_client()
    for base_url in ("https://gw.example", "http://gw.example"):
        sent = redirect_uri_sent(
            client, sign_in, emulator, provider="google", base_url=base_url, headers=headers
        )
        assert sent == "https://gw.example/auth/callback/google"

"""T8 / RFC 9700 R7 (§4.2, §4.3), ASVS 5.0 3.4.5 (and 4.0.3 3.1.1): no `code` or `state`
in the URL of any page served after sign-in, `Referrer-Policy: no-referrer` on the
callback and on the page it lands on, and no third-party resources on those pages.

Walks the whole redirect chain the browser takes for each provider (query response for
Google and the generic provider, cross-site form_post for Microsoft)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.security.support import (
    GENERIC_ACCOUNT,
    GOOGLE_ACCOUNT,
    MICROSOFT_ACCOUNT,
    third_party_urls,
)

SECRET_PARAMS = {"code", "state", "id_token", "access_token", "session_state", "iss"}


def walk(client: FlaskClient, first: Any, limit: int = 5) -> list[tuple[str, Any]]:
    """Follow 30x answers like a browser; (URL requested, answer) for each hop."""
    hops: list[tuple[str, Any]] = []
    answer = first
    for _ in range(limit):
        if answer.status_code not in (301, 302, 303, 307, 308):
            break
        url = answer.headers["Location"]
        answer = client.get(url)
        hops.append((url, answer))
    return hops


@pytest.mark.parametrize(
    ("provider", "account"),
    [("google", GOOGLE_ACCOUNT), ("microsoft", MICROSOFT_ACCOUNT), ("emulator", GENERIC_ACCOUNT)],
)
@pytest.mark.parametrize("next_path", [None, "/account", "/processing-register"])
def test_the_page_after_sign_in_has_a_clean_url_and_no_referrer(
    sign_in: Any, client: FlaskClient, provider: str, account: str, next_path: str | None
) -> None:
    """T8: 303 to a URL without code/state; Referrer-Policy on 100%; 0 third-party resources."""
    authorize_url = sign_in.start(provider, next_path)
    sign_in.emulator.client.authorize_next(account)
    path, params = sign_in.at_provider(authorize_url)
    if path.startswith("POST "):  # Microsoft: the cross-site form_post is parked first
        parked = client.post(path.removeprefix("POST "), data=params)
        assert parked.status_code == 303
        assert parked.headers["Referrer-Policy"] == "no-referrer"
        assert third_party_urls(parked.get_data(as_text=True)) == []
        callback = client.get(parked.headers["Location"])
    else:
        callback = client.get(path, query_string=params)
    assert callback.status_code == 303, callback.get_data(as_text=True)
    assert callback.headers["Referrer-Policy"] == "no-referrer"
    assert third_party_urls(callback.get_data(as_text=True)) == []

    hops = walk(client, callback)
    assert hops, "the callback must send the browser on"
    final_url, final = hops[-1]
    assert final.status_code == 200, final.get_data(as_text=True)
    for url, answer in hops:
        assert not SECRET_PARAMS & set(parse_qs(urlsplit(url).query)), url
        assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert urlsplit(final_url).path == (next_path or "/account")
    assert third_party_urls(final.get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "path",
    ["/", "/account", "/processing-register", "/consent/room-availability?provider=google"],
)
def test_pages_on_the_way_to_a_provider_load_nothing_from_elsewhere(
    sign_in: Any, client: FlaskClient, path: str
) -> None:
    """T8: the login and consent pages have 0 third-party src/link and no-referrer."""
    sign_in.complete("google", GOOGLE_ACCOUNT)
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert third_party_urls(page.get_data(as_text=True)) == []


def test_a_refused_callback_page_carries_no_referrer(sign_in: Any, client: FlaskClient) -> None:
    """T8: an error page shown at the callback URL (which holds code and state) must not
    leak that URL through a Referer (RFC 9700 §4.2.4)."""
    authorize_url = sign_in.start("google")
    sign_in.emulator.client.authorize_next(GOOGLE_ACCOUNT)
    path, params = sign_in.at_provider(authorize_url)
    sign_in.emulator.client.id_token_next("nonce")
    refused = client.get(path, query_string=params)
    assert refused.status_code == 400
    assert refused.headers["Referrer-Policy"] == "no-referrer"
    assert third_party_urls(refused.get_data(as_text=True)) == []

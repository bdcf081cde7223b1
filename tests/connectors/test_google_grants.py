"""Google grants through the real Authlib and google-auth, against the emulator over HTTPS:
the tokens a calendar authorization keeps, refresh, revocation and how each fails."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.errors import ConnectorError, GrantInvalid, ProviderUnavailable
from connectors.oidc import OidcConnector
from connectors.values import TokenSet
from tests.connectors.grants_support import (
    ALICE,
    CLIENT_ID,
    FREEBUSY,
    GOOGLE_SIGN_IN,
    assert_nothing_secret,
    authorize,
    calls,
    google,
    grant,
)


@pytest.fixture
def connector(emulator: Any) -> Any:
    return google(emulator)


def test_a_calendar_grant_keeps_exactly_what_google_granted(connector: Any, emulator: Any) -> None:
    identity = authorize(connector, emulator, ALICE, (FREEBUSY,))
    tokens = identity.tokens
    assert tokens is not None
    assert tokens.granted_scopes == GOOGLE_SIGN_IN | {FREEBUSY}
    assert tokens.granted_scopes == identity.granted_scopes
    assert tokens.access_token and tokens.access_token.startswith("ya29.")
    assert tokens.refresh_token and tokens.refresh_token.startswith("1//")
    assert tokens.cache is None
    ttl = emulator.client.settings()["access_token_ttl"]
    assert tokens.expires_at is not None
    assert abs(tokens.expires_at - (time.time() + ttl)) < 30
    # Never an ID token (a JWT) among what is kept.
    assert not any(str(v).startswith("eyJ") for v in tokens.to_dict().values())


def test_begin_records_the_extra_scopes_and_asks_for_offline_access(connector: Any) -> None:
    request = connector.begin(f"{'http://127.0.0.1:8000/auth/callback'}/google", "s", (FREEBUSY,))
    assert request.flow["grant_scopes"] == [FREEBUSY]
    assert "access_type=offline" in request.url
    assert "include_granted_scopes=true" in request.url
    assert (
        connector.begin("http://127.0.0.1:8000/auth/callback/google", "s").flow["grant_scopes"]
        == []
    )


def test_sign_in_alone_keeps_no_tokens(connector: Any, emulator: Any) -> None:
    identity = authorize(connector, emulator, ALICE, ())
    assert identity.tokens is None
    assert identity.subject


def test_an_unticked_calendar_scope_is_not_granted(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY, grant=["openid", "email", "profile"])
    assert tokens.granted_scopes == GOOGLE_SIGN_IN
    assert FREEBUSY not in tokens.granted_scopes


def test_refresh_gets_a_new_access_token_in_one_call(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    before = calls(emulator, "google.token")
    fresh = connector.refresh(tokens, tuple(sorted(tokens.granted_scopes)))
    assert calls(emulator, "google.token") == before + 1
    assert fresh.access_token and fresh.access_token != tokens.access_token
    assert fresh.refresh_token == tokens.refresh_token  # Google does not rotate it
    assert fresh.granted_scopes == tokens.granted_scopes
    assert fresh.expires_at is not None and fresh.expires_at > time.time()
    # The new access token works, and so does the next refresh.
    again = connector.refresh(fresh, ())
    assert again.access_token not in (None, fresh.access_token)


def test_refresh_reports_a_narrowed_grant(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    emulator.client.set_grant(ALICE, CLIENT_ID, ["openid", "email", "profile"])
    fresh = connector.refresh(tokens, tuple(sorted(tokens.granted_scopes)))
    assert fresh.granted_scopes == GOOGLE_SIGN_IN


def test_invalid_grant_on_refresh_is_grant_invalid(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    emulator.client.fault("google.token", error="invalid_grant")
    with pytest.raises(GrantInvalid) as refused:
        connector.refresh(tokens, ())
    assert refused.value.code == "invalid_grant"
    assert_nothing_secret([str(refused.value), repr(refused.value)], [tokens])


def test_a_grant_revoked_at_google_is_grant_invalid(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    assert emulator.client.revoke_grant(ALICE, CLIENT_ID) >= 2
    with pytest.raises(GrantInvalid):
        connector.refresh(tokens, ())


@pytest.mark.parametrize(("status", "retry_after"), [(503, None), (429, 2)])
def test_an_unavailable_token_endpoint_is_provider_unavailable(
    connector: Any, emulator: Any, status: int, retry_after: int | None
) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    before = calls(emulator, "google.token")
    emulator.client.fault("google.token", status=status, retry_after=retry_after, times=-1)
    with pytest.raises(ProviderUnavailable) as failed:
        connector.refresh(tokens, ())
    # google-auth retries 429/5xx itself: three attempts in all.
    assert calls(emulator, "google.token") == before + 3
    assert_nothing_secret([str(failed.value), repr(failed.value)], [tokens])


def test_one_transient_failure_is_retried_by_google_auth(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    emulator.client.fault("google.token", status=503)
    assert connector.refresh(tokens, ()).access_token


def test_a_malformed_answer_is_provider_unavailable(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    emulator.client.fault("google.token", body="malformed")
    with pytest.raises(ProviderUnavailable) as failed:
        connector.refresh(tokens, ())
    assert "ya29" not in str(failed.value) and failed.value.__cause__ is None


def test_a_slow_token_endpoint_times_out(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    connector._session.default_timeout = (3.0, 0.3)
    emulator.client.fault("google.token", delay_ms=1500)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        connector.refresh(tokens, ())
    assert time.monotonic() - started < 1.4


def test_refresh_without_a_refresh_token_is_grant_invalid(connector: Any) -> None:
    with pytest.raises(GrantInvalid):
        connector.refresh(TokenSet(frozenset({FREEBUSY}), access_token="ya29.x"), ())


def test_revoke_ends_the_grant_and_the_next_refresh_fails(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    assert connector.revoke(tokens) is True
    assert calls(emulator, "google.revoke") == 1
    with pytest.raises(GrantInvalid):
        connector.refresh(tokens, ())
    # Already revoked: Google answers 400 invalid_token, and the grant is gone all the same.
    assert connector.revoke(tokens) is True


def test_revoke_with_only_an_access_token(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    only_access = TokenSet(tokens.granted_scopes, access_token=tokens.access_token)
    assert connector.revoke(only_access) is True
    with pytest.raises(GrantInvalid):  # revoking the access token kills its refresh token
        connector.refresh(tokens, ())
    assert connector.revoke(TokenSet(frozenset())) is False


def test_revoke_when_google_is_unavailable(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, ALICE, FREEBUSY)
    emulator.client.fault("google.revoke", status=503)
    with pytest.raises(ProviderUnavailable) as failed:
        connector.revoke(tokens)
    assert_nothing_secret([str(failed.value), repr(failed.value)], [tokens])
    assert connector.revoke(tokens) is True


def test_no_token_in_any_repr_or_error(connector: Any, emulator: Any) -> None:
    identity = authorize(connector, emulator, ALICE, (FREEBUSY,))
    tokens = identity.tokens
    assert tokens is not None
    errors: list[ConnectorError] = []
    for fault in ({"error": "invalid_grant"}, {"status": 500, "times": 3}, {"body": "malformed"}):
        emulator.client.fault("google.token", **fault)
        with pytest.raises(ConnectorError) as failed:
            connector.refresh(tokens, ())
        errors.append(failed.value)
    texts = [str(tokens), repr(tokens), str(identity), repr(identity)]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    assert_nothing_secret(texts, [tokens])


def test_generic_oidc_stays_sign_in_only(emulator: Any) -> None:
    assert google(emulator).supports_grants is True
    generic = OidcConnector(
        "emulator",
        discovery_url=f"{emulator.url}/generic/.well-known/openid-configuration",
        client_id=CLIENT_ID,
        client_secret="unused",
        ca_bundle=str(emulator.ca_path),
    )
    assert generic.supports_grants is False
    with pytest.raises(NotImplementedError):
        generic.refresh(TokenSet(frozenset()), ())
    assert generic.revoke(TokenSet(frozenset())) is False

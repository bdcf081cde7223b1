"""Microsoft grants through the real MSAL, against the emulator over HTTPS: the tokens a
calendar authorization keeps (the refresh and access tokens, not MSAL's cache), rotating
refreshes, grants stored with MSAL's cache before issue 17, and the failures."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest

from connectors.errors import ConnectorError, ConsentWithdrawn, GrantInvalid, ProviderUnavailable
from connectors.values import TokenSet
from tests.connectors.grants_support import (
    CALENDARS,
    CAROL,
    CLIENT_ID,
    CLIENT_SECRET,
    assert_nothing_secret,
    authorize,
    calls,
    grant,
    microsoft,
)

SIGN_IN = frozenset({"openid", "profile", "email"})


@pytest.fixture
def connector(emulator: Any) -> Any:
    return microsoft(emulator)


def refresh_tokens_in(cache: str | None) -> set[str]:
    assert cache is not None
    return {e["secret"] for e in json.loads(cache)["RefreshToken"].values()}


def all_scopes(tokens: TokenSet) -> tuple[str, ...]:
    """What the gateway passes: the granted scopes, reserved ones included."""
    return tuple(sorted(tokens.granted_scopes))


def old_style(connector: Any, emulator: Any, tokens: TokenSet) -> TokenSet:
    """The same grant as a gateway stored it before issue 17: MSAL's serialized cache
    (made by MSAL itself from a real token answer) without its ID and access tokens, and
    no refresh token of its own."""
    cache = msal.SerializableTokenCache()
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=CLIENT_SECRET,
        authority=f"{emulator.url}/organizations",
        instance_discovery=False,
        http_client=connector._session,
        token_cache=cache,
    )
    answer = app.acquire_token_by_refresh_token(tokens.refresh_token, [CALENDARS])
    assert "access_token" in answer
    sections = json.loads(cache.serialize())
    sections.pop("IdToken", None)
    sections.pop("AccessToken", None)
    assert sections["RefreshToken"] and sections["Account"]
    return TokenSet(
        tokens.granted_scopes,
        access_token=answer["access_token"],
        expires_at=tokens.expires_at,
        cache=json.dumps(sections, separators=(",", ":")),
    )


def test_a_calendar_grant_keeps_its_refresh_and_access_tokens_and_no_msal_cache(
    connector: Any, emulator: Any
) -> None:
    identity = authorize(connector, emulator, CAROL, (CALENDARS,))
    tokens = identity.tokens
    assert tokens is not None
    assert tokens.granted_scopes == SIGN_IN | {CALENDARS}
    assert tokens.granted_scopes == identity.granted_scopes
    assert tokens.access_token and tokens.access_token.startswith("EwA-emu.")
    assert tokens.refresh_token and tokens.refresh_token != tokens.access_token
    ttl = emulator.client.settings()["access_token_ttl"]
    assert tokens.expires_at is not None
    assert abs(tokens.expires_at - (time.time() + ttl)) < 30
    # issue 17: no MSAL cache (its account, app metadata and ID token are never read again)
    assert tokens.cache is None
    assert set(tokens.to_dict()) == {
        "granted_scopes",
        "access_token",
        "expires_at",
        "refresh_token",
    }
    assert not any(str(v).startswith("eyJ") for v in tokens.to_dict().values())


def test_a_grant_stored_with_msal_s_cache_before_issue_17_still_refreshes(
    connector: Any, emulator: Any
) -> None:
    old = old_style(connector, emulator, grant(connector, emulator, CAROL, CALENDARS))
    (kept,) = refresh_tokens_in(old.cache)
    before = calls(emulator, "microsoft.token")
    fresh = connector.refresh(old, all_scopes(old))
    assert calls(emulator, "microsoft.token") == before + 1
    assert fresh.access_token and fresh.access_token != old.access_token
    # the rotated refresh token moves to its own field; the cache is not written again
    assert fresh.refresh_token and fresh.refresh_token != kept
    assert fresh.cache is None
    again = connector.refresh(fresh, (CALENDARS,))
    assert again.access_token not in (None, fresh.access_token)


def test_begin_records_the_extra_scopes(connector: Any) -> None:
    callback = "http://127.0.0.1:8000/auth/callback/microsoft"
    assert connector.begin(callback, "s", (CALENDARS,)).flow["grant_scopes"] == [CALENDARS]
    assert connector.begin(callback, "s").flow["grant_scopes"] == []


def test_a_sign_in_asks_for_no_refresh_token_and_a_grant_does(connector: Any) -> None:
    """MSAL adds `offline_access` to every request unless told not to; a sign-in throws
    the refresh token away, so it does not ask for one (issue 17: nor does the provider
    mint one per sign-in). A grant lives on its refresh token: it still asks."""
    callback = "http://127.0.0.1:8000/auth/callback/microsoft"
    signing_in = parse_qs(urlsplit(connector.begin(callback, "s").url).query)
    granting = parse_qs(urlsplit(connector.begin(callback, "s", (CALENDARS,)).url).query)
    assert set(signing_in["scope"][0].split()) == {"openid", "profile", "email"}
    assert "offline_access" in granting["scope"][0].split()
    assert CALENDARS in granting["scope"][0].split()


def test_sign_in_alone_keeps_no_tokens(connector: Any, emulator: Any) -> None:
    identity = authorize(connector, emulator, CAROL, ())
    assert identity.tokens is None
    assert identity.subject.startswith("11111111-")


def test_flows_start_from_one_kept_app_whose_token_cache_stays_empty(
    connector: Any, emulator: Any
) -> None:
    """Starting a flow only builds a URL, so one app starts them all (issue 17: MSAL's
    setup of an app, once per process); the tokens a flow redeems never land in it."""
    authorize(connector, emulator, CAROL, ())
    starter = connector._kept_app()
    grant(connector, emulator, CAROL, CALENDARS)
    assert connector._kept_app() is starter
    assert not list(starter.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN))
    assert not list(starter.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))
    assert starter.get_accounts() == []


def test_sign_ins_redeem_their_codes_in_the_kept_app_which_keeps_none_of_their_tokens(
    connector: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-in's code exchange builds no MSAL app (issue 17) and leaves no token, ID
    token or account in the kept one; nor does a grant's, whose tokens come from the answer."""
    authorize(connector, emulator, CAROL, ())  # the kept apps are built
    grant(connector, emulator, CAROL, CALENDARS)
    starter = connector._kept_app()
    built: list[object] = []
    real_init = msal.ConfidentialClientApplication.__init__

    def counted(app: Any, *args: Any, **kwargs: Any) -> None:
        built.append(kwargs.get("token_cache"))
        real_init(app, *args, **kwargs)

    monkeypatch.setattr(msal.ConfidentialClientApplication, "__init__", counted)
    before = calls(emulator, "microsoft.token")
    first = authorize(connector, emulator, CAROL, ())
    second = authorize(connector, emulator, CAROL, ())
    assert calls(emulator, "microsoft.token") == before + 2
    assert first.subject == second.subject and first.tokens is None and second.tokens is None
    assert built == []
    kinds = msal.TokenCache.CredentialType
    for kind in (kinds.ACCESS_TOKEN, kinds.REFRESH_TOKEN, kinds.ID_TOKEN, kinds.ACCOUNT):
        assert not list(starter.token_cache.search(kind))
    assert connector._kept_app() is starter
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    assert built == [] and tokens.refresh_token and tokens.access_token
    for app in (starter, connector._kept_app(grant=True)):
        for kind in (kinds.ACCESS_TOKEN, kinds.REFRESH_TOKEN, kinds.ID_TOKEN, kinds.ACCOUNT):
            assert not list(app.token_cache.search(kind))


def test_an_unticked_calendar_scope_is_not_granted(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS, grant=["openid", "profile", "email"])
    assert tokens.granted_scopes == SIGN_IN


def test_refresh_rotates_the_refresh_token_and_refreshes_again(
    connector: Any, emulator: Any
) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    before = calls(emulator, "microsoft.token")
    fresh = connector.refresh(tokens, all_scopes(tokens))
    assert calls(emulator, "microsoft.token") == before + 1
    assert fresh.access_token and fresh.access_token != tokens.access_token
    assert fresh.granted_scopes == tokens.granted_scopes
    assert fresh.expires_at is not None and fresh.expires_at > time.time()
    assert fresh.cache is None
    assert fresh.refresh_token and fresh.refresh_token != tokens.refresh_token
    again = connector.refresh(fresh, (CALENDARS,))
    assert calls(emulator, "microsoft.token") == before + 2
    assert again.access_token not in (None, fresh.access_token)
    assert again.refresh_token not in (None, fresh.refresh_token)


def test_refresh_reports_a_narrowed_grant(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    emulator.client.set_grant(CAROL, CLIENT_ID, ["openid", "profile", "offline_access", CALENDARS])
    fresh = connector.refresh(tokens, all_scopes(tokens))
    assert fresh.granted_scopes == {"openid", "profile", CALENDARS}


def test_a_withdrawn_calendar_consent_is_consent_withdrawn(connector: Any, emulator: Any) -> None:
    """Microsoft refuses a refresh for a scope no longer consented (AADSTS65001): a dead
    grant, but one that consenting again restores."""
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    emulator.client.set_grant(CAROL, CLIENT_ID, ["openid", "profile", "email"])
    with pytest.raises(ConsentWithdrawn) as refused:
        connector.refresh(tokens, all_scopes(tokens))
    assert isinstance(refused.value, GrantInvalid)
    assert refused.value.code == "consent_required"


def test_invalid_grant_on_refresh_is_grant_invalid(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    emulator.client.fault("microsoft.token", error="invalid_grant")
    with pytest.raises(GrantInvalid) as refused:
        connector.refresh(tokens, all_scopes(tokens))
    assert refused.value.code == "invalid_grant"
    assert "AADSTS" not in str(refused.value)
    assert_nothing_secret([str(refused.value), repr(refused.value)], [tokens])


def test_a_grant_revoked_at_microsoft_is_grant_invalid(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    assert emulator.client.revoke_grant(CAROL, CLIENT_ID) >= 2
    with pytest.raises(GrantInvalid):
        connector.refresh(tokens, all_scopes(tokens))


@pytest.mark.parametrize(("status", "retry_after"), [(503, None), (500, None), (429, 2)])
def test_an_unavailable_token_endpoint_is_provider_unavailable(
    connector: Any, emulator: Any, status: int, retry_after: int | None
) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    before = calls(emulator, "microsoft.token")
    emulator.client.fault("microsoft.token", status=status, retry_after=retry_after)
    with pytest.raises(ProviderUnavailable) as failed:
        connector.refresh(tokens, all_scopes(tokens))
    assert calls(emulator, "microsoft.token") == before + 1
    assert_nothing_secret([str(failed.value), repr(failed.value)], [tokens])
    # MSAL throttles the same request until Retry-After passes: no second call meanwhile.
    with pytest.raises(ProviderUnavailable):
        connector.refresh(tokens, all_scopes(tokens))
    assert calls(emulator, "microsoft.token") == before + 1


def test_a_malformed_answer_is_provider_unavailable_and_not_logged(
    connector: Any, emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    emulator.client.fault("microsoft.token", body="malformed")
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderUnavailable) as failed:
        connector.refresh(tokens, all_scopes(tokens))
    assert "ya29" not in str(failed.value) and failed.value.__cause__ is None
    assert "ya29" not in caplog.text
    assert "body withheld" in caplog.text
    assert_nothing_secret([caplog.text], [tokens])


def test_a_slow_token_endpoint_times_out(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    connector._session.default_timeout = (3.0, 0.3)
    emulator.client.fault("microsoft.token", delay_ms=1500)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        connector.refresh(tokens, all_scopes(tokens))
    assert time.monotonic() - started < 1.4


def test_a_grant_without_a_usable_cache_is_grant_invalid(connector: Any) -> None:
    for cache in (None, "not json", "{}", "[]", '{"RefreshToken": {"k": {}}}'):
        with pytest.raises(GrantInvalid):
            connector.refresh(TokenSet(frozenset({CALENDARS}), cache=cache), (CALENDARS,))


def test_revoke_is_not_offered_by_microsoft(connector: Any, emulator: Any) -> None:
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    before = emulator.client.calls()
    assert connector.revoke(tokens) is False
    assert emulator.client.calls() == before
    assert connector.supports_grants is True


def test_no_token_in_any_repr_or_error(connector: Any, emulator: Any) -> None:
    identities = []
    errors: list[ConnectorError] = []
    for fault in ({"error": "invalid_grant"}, {"status": 502}, {"body": "malformed"}):
        # A new grant each time: MSAL replays an error answer for the same refresh token.
        identity = authorize(connector, emulator, CAROL, (CALENDARS,))
        assert identity.tokens is not None
        fresh = connector.refresh(identity.tokens, all_scopes(identity.tokens))
        emulator.client.fault("microsoft.token", **fault)
        with pytest.raises(ConnectorError) as failed:
            connector.refresh(fresh, all_scopes(fresh))
        errors.append(failed.value)
        identities.append((identity, fresh))
    token_sets = [t for i, fresh in identities for t in (i.tokens, fresh) if t is not None]
    texts = [text for t in token_sets for text in (str(t), repr(t))]
    texts += [text for i, _ in identities for text in (str(i), repr(i))]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    assert_nothing_secret(texts, token_sets)

"""What a grant seals of its tokens (gateway/services/sealed_tokens.py, issue 17): short
names, a typed credential's secret once, the scopes and expiry from the record; and every
form sealed before still opens the same."""

from __future__ import annotations

import json

from connectors.values import TokenSet
from gateway.services.sealed_tokens import SAME, opened, sealable
from gateway.storage.grants import ACTIVE, GrantRecord

SCOPES = frozenset({"openid", "https://www.googleapis.com/auth/calendar.events.freebusy"})


def record(expires_at: float = 1_796_680_164.0) -> GrantRecord:
    return GrantRecord(
        uid="U1", id="G1", provider="caldav", purpose="room-availability", status=ACTIVE,
        reason="", scopes=SCOPES, created=1.0, last_used=0.0, last_refreshed=1.0,
        expires_at=expires_at, version=1, epoch=1, wrapped_key="dk", sealed_tokens="t",
        sealed_subject="s",
    )  # fmt: skip


def test_an_oauth_grant_seals_its_two_tokens_by_short_names_and_opens_with_the_record_s_rest() -> (
    None
):
    tokens = TokenSet(
        SCOPES, access_token="ya29.a", expires_at=1_796_680_164.0, refresh_token="1//r"
    )
    sealed = sealable(tokens)
    assert sealed == {"r": "1//r", "a": "ya29.a"}
    assert opened(json.loads(json.dumps(sealed)), record()) == tokens


def test_a_typed_credential_s_secret_kept_as_both_tokens_is_sealed_once() -> None:
    secret = json.dumps({"server_url": "https://dav.example", "username": "u", "password": "p"})
    tokens = TokenSet(SCOPES, access_token=secret, expires_at=1_796_680_164.0, refresh_token=secret)
    sealed = sealable(tokens)
    assert sealed == {"r": secret, "a": SAME}
    assert json.dumps(sealed).count("password") == 1
    assert opened(json.loads(json.dumps(sealed)), record()) == tokens


def test_a_grant_without_an_access_token_or_expiry_opens_without_them() -> None:
    sealed = sealable(TokenSet(SCOPES, refresh_token="1//r"))
    assert sealed == {"r": "1//r"}
    assert opened(sealed, record(expires_at=0.0)) == TokenSet(SCOPES, refresh_token="1//r")


def test_tokens_sealed_before_issue_17_open_as_they_were() -> None:
    old = TokenSet(
        frozenset({"openid"}),
        access_token="ya29.a",
        expires_at=1_700_000_000.5,
        refresh_token="1//r",
    )
    assert opened(old.to_dict(), record()) == old  # their own scopes and expiry
    spaced = json.loads(json.dumps({**old.to_dict(), "granted_scopes": None, "cache": None}))
    assert opened(spaced, record()).granted_scopes == SCOPES  # none of their own: the record's
    msal = {"access_token": "EwA.a", "expires_at": 1_700_000_000.0, "cache": '{"RefreshToken":{}}'}
    assert opened(msal, record()).cache == '{"RefreshToken":{}}'

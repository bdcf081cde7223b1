"""What CalDAV and ICS feeds share as typed-credential providers (connectors/
typed_credential.py): offered only when enabled, the outbound allowlist checked, no sign-in,
no revocation endpoint, and the checked secret kept as both tokens."""

from __future__ import annotations

import time

import pytest

from connectors import registry
from connectors.caldav import CalDavConnector
from connectors.errors import AuthorizationDenied
from connectors.ics import IcsConnector
from connectors.provider_spec import SettingError
from connectors.typed_credential import (
    CHECK_EVERY_SECONDS,
    RECHECK_SECONDS,
    TypedCredentialConnector,
)
from connectors.values import TokenSet

KINDS = {"caldav": CalDavConnector, "ics": IcsConnector}


@pytest.mark.parametrize("kind", KINDS)
def test_it_is_offered_only_when_enabled_and_the_allowlist_is_checked(kind: str) -> None:
    enabled = f"GATEWAY_{kind.upper()}_ENABLED"
    assert not [c for c in registry.configure({}) if c.kind == kind]
    assert not [c for c in registry.configure({enabled: "0"}) if c.kind == kind]
    (config,) = [
        c
        for c in registry.configure({enabled: "1", "GATEWAY_OUTBOUND_ALLOWLIST": "10.0.0.0/8"})
        if c.kind == kind
    ]
    connector = registry.build_connector(config)
    assert isinstance(connector, KINDS[kind])
    assert connector.name == kind
    assert connector.guard.allowlist.networks[0].compressed == "10.0.0.0/8"
    with pytest.raises(SettingError, match="GATEWAY_OUTBOUND_ALLOWLIST"):
        registry.configure({enabled: "1", "GATEWAY_OUTBOUND_ALLOWLIST": "http://x.example/"})
    with pytest.raises(SettingError, match=enabled):
        registry.configure({enabled: "maybe"})
    assert registry.spec(kind).how_to_enable == f"{enabled}=1"


@pytest.mark.parametrize("kind", KINDS)
def test_there_is_no_sign_in_and_no_revocation_endpoint(kind: str) -> None:
    connector: TypedCredentialConnector = KINDS[kind]()
    assert not connector.capabilities.sign_in and not connector.capabilities.can_revoke
    with pytest.raises(AuthorizationDenied, match="not a sign-in"):
        connector.begin("https://gateway.example/cb", "state")
    with pytest.raises(AuthorizationDenied, match="not a sign-in"):
        connector.complete("https://gateway.example/cb", {}, {})
    secret = "the-typed-secret"  # pragma: allowlist secret
    tokens = TokenSet(frozenset(), access_token=secret, refresh_token=secret, expires_at=0)
    assert connector.revoke(tokens) is False
    assert connector.revoke_hint and "at your calendar provider" in connector.revoke_hint


def lasts(tokens: TokenSet | None) -> float:
    """How many seconds from now the tokens count as checked."""
    assert tokens is not None and tokens.expires_at is not None
    return tokens.expires_at - time.time()


def test_the_checked_secret_is_both_tokens_and_is_checked_again_in_time() -> None:
    connector = IcsConnector()
    secret = "https://feeds.example/secret.ics"  # pragma: allowlist secret
    issuer = "https://feeds.example"
    identity = connector.identity(secret, ("ics:feed",), issuer=issuer, subject="sha256:x")
    tokens = identity.tokens
    assert tokens is not None and tokens.access_token == tokens.refresh_token == secret
    assert (identity.provider, identity.subject, identity.email) == ("ics", "sha256:x", None)
    assert CHECK_EVERY_SECONDS - 5 < lasts(tokens) <= CHECK_EVERY_SECONDS
    answered = connector.rechecked_tokens(tokens, answered=True)
    unanswered = connector.rechecked_tokens(tokens, answered=False)
    assert answered.access_token == unanswered.access_token == secret
    assert answered.refresh_token == unanswered.refresh_token == secret
    assert CHECK_EVERY_SECONDS - 5 < lasts(answered) <= CHECK_EVERY_SECONDS
    assert RECHECK_SECONDS - 5 < lasts(unanswered) <= RECHECK_SECONDS

"""What every provider connected with a typed credential shares (CalDAV, ICS feeds).

Such a provider has no sign-in and no OAuth: the consent page's form is the authorization.
The typed secret (an app password, a feed's secret address) is checked once when it is
typed, then kept sealed in the grant's vault as its refresh token and, for the free/busy
calls, as its access token that "expires" when it is due for another check. There is no
revocation endpoint: the person is told (`revoke_hint`) what to reset at their provider.
Every request goes through one `OutboundGuard` (the address is a member's input: SSRF),
enabled with `GATEWAY_<KIND>_ENABLED` and let inside the deployment by
`GATEWAY_OUTBOUND_ALLOWLIST`.

A subclass says what it is (`kind`, `capabilities`, `credential_fields`, `revoke_hint`,
`sign_in_refusal`) and implements `connect`, `refresh`, `list_calendars` and `free_busy`
with `checked_tokens` and `rechecked_tokens`; its module declares
`PROVIDER = typed_credential_provider(TheConnector, "what ENABLED=1 offers")`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from connectors.base import Connector
from connectors.errors import AuthorizationDenied
from connectors.outbound_guard import Allowlist, OutboundGuard
from connectors.provider_spec import (
    ProviderConfig,
    ProviderEnv,
    ProviderSpec,
    Setting,
    SettingError,
)
from connectors.values import AuthRequest, Identity, TokenSet

CHECK_EVERY_SECONDS = 3600  # how long a checked secret counts as an "access token"
RECHECK_SECONDS = 300  # after a check the server did not answer (the gateway refreshes
# a token 120 s before it expires: this is checked again about three minutes later)
CALL_SECONDS = 6.0  # one call, redirects included (the free/busy deadline is 8 s)
PRIMARY = "primary"  # the gateway's name for a grant's default calendar


@dataclass(frozen=True, kw_only=True)
class TypedCredentialConfig(ProviderConfig):
    """One enabled typed-credential provider: the addresses it may reach inside."""

    allowlist: str = ""


class TypedCredentialConnector(Connector):
    """A connector whose grants come from a typed credential (`connect`), not a sign-in."""

    sign_in_refusal: ClassVar[str] = "This provider is connected with a typed credential"

    def __init__(
        self, name: str | None = None, *, allowlist: str = "", ca_bundle: str | None = None
    ) -> None:
        self.name = name or self.kind
        self.title = self.default_title
        self.guard = OutboundGuard(Allowlist.parse(allowlist))
        self.ca_bundle = ca_bundle
        self.call_seconds = CALL_SECONDS

    @classmethod
    def from_config(cls, config: ProviderConfig, ca_bundle: str | None = None) -> Self:
        allowlist = config.allowlist if isinstance(config, TypedCredentialConfig) else ""
        return cls(config.name, allowlist=allowlist, ca_bundle=ca_bundle)

    # -- no redirect flow: the consent page's form is the authorization ---------------------
    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        raise AuthorizationDenied(self.sign_in_refusal)

    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        raise AuthorizationDenied(self.sign_in_refusal)

    def revoke(self, tokens: TokenSet) -> bool:
        return False  # no revocation endpoint: the person resets the secret there

    # -- the secret as tokens ------------------------------------------------------------------
    def identity(
        self, secret: str, scopes: tuple[str, ...], *, issuer: str, subject: str
    ) -> Identity:
        """The grant a just-checked `secret` makes: it is both tokens, due for a check in
        an hour. `subject` must never be the secret itself."""
        return Identity(
            provider=self.name,
            issuer=issuer,
            subject=subject,
            email=None,
            name=None,
            granted_scopes=frozenset(scopes),
            tokens=TokenSet(
                granted_scopes=frozenset(scopes),
                access_token=secret,
                expires_at=time.time() + CHECK_EVERY_SECONDS,
                refresh_token=secret,
            ),
        )

    @staticmethod
    def rechecked_tokens(tokens: TokenSet, *, answered: bool) -> TokenSet:
        """The same secret after a check that did not refuse it: good for an hour when the
        server answered, looked at again within minutes when it did not."""
        lasts = CHECK_EVERY_SECONDS if answered else RECHECK_SECONDS
        return TokenSet(
            granted_scopes=tokens.granted_scopes,
            access_token=tokens.refresh_token,
            expires_at=time.time() + lasts,
            refresh_token=tokens.refresh_token,
        )


def typed_credential_provider(
    connector: type[TypedCredentialConnector], enables: str
) -> ProviderSpec:
    """The `PROVIDER` of a typed-credential module: `GATEWAY_<KIND>_ENABLED=1` offers it
    (`enables` says what to whoever reads the settings' list)."""
    prefix = f"GATEWAY_{connector.kind.upper()}"

    def configure(env: ProviderEnv) -> list[ProviderConfig]:
        enabled = (env.get(f"{prefix}_ENABLED") or "0").lower()
        if enabled not in ("0", "1", "true", "false", "yes", "no"):
            raise SettingError(f"{prefix}_ENABLED must be 0 or 1")
        if enabled not in ("1", "true", "yes"):
            return []
        allowlist = env.get("GATEWAY_OUTBOUND_ALLOWLIST") or ""
        try:
            Allowlist.parse(allowlist)
        except ValueError as error:
            raise SettingError(f"GATEWAY_OUTBOUND_ALLOWLIST: {error}") from None
        kind = connector.kind
        return [TypedCredentialConfig(name=kind, kind=kind, allowlist=allowlist)]

    return ProviderSpec(
        kind=connector.kind,
        connector=connector,
        settings=(Setting("ENABLED", enables),),
        configure=configure,
        how_to_enable=f"{prefix}_ENABLED=1",
    )

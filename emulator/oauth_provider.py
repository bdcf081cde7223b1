"""What each emulated provider states about itself: the hooks of the shared OAuth flow.

`ProviderHooks` holds the class attributes and overridable methods (issuer, ID token claims,
error envelope, scope spelling, refresh-token rules) that google.py, microsoft.py and
generic.py set; the flow itself is `TokenEndpoint` (oauth_token.py) and
`AuthorizationServer` (oauth.py), built on top.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from emulator.faults import current_state
from emulator.records import Account
from emulator.signing import Signer
from emulator.state import EmulatorState


class TokenError(Exception):
    """A token endpoint refusal; `kind` picks the provider's wording (see `token_error`)."""

    def __init__(self, error: str, kind: str, status: int = 400, **fill: str) -> None:
        super().__init__(error)
        self.error = error
        self.kind = kind
        self.status = status
        self.fill = fill


class ProviderHooks:
    """What one provider states about itself. Subclasses set the class attributes and
    implement `issuer`, `id_token_claims`, `token_error` and `decision_url`."""

    name: str  # account kind and endpoint prefix: google | microsoft | oidc
    title: str
    SIGN_IN_SCOPES: frozenset[str] = frozenset({"openid", "email", "profile"})
    ISS_PARAMETER = False  # RFC 9207 `iss` on the redirect
    GRANULAR_CONSENT = False  # extra scopes can be unticked on the page
    ROTATES_REFRESH_TOKENS = False
    ACCESS_TOKEN_PREFIX = "at."
    REFRESH_TOKEN_PREFIX = "rt."
    CODE_PREFIX = "code."

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    # -- hooks -------------------------------------------------------------------------------
    @property
    def state(self) -> EmulatorState:
        return current_state()

    def issuer(self, account: Account | None = None) -> str:
        raise NotImplementedError

    def decision_url(self, tenant: str | None) -> str:
        raise NotImplementedError

    def id_token_claims(
        self, account: Account, client_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def token_error(self, error: TokenError) -> Response:
        raise NotImplementedError

    def normalize_scope(self, scope: str) -> str:
        return scope

    def scope_string(self, scopes: tuple[str, ...]) -> str:
        return " ".join(scopes)

    def requested_scopes(self, params: dict[str, str]) -> tuple[str, ...]:
        raw = params.get("scope", "").split()
        return tuple(dict.fromkeys(self.normalize_scope(s) for s in raw))

    def eligible_accounts(self, tenant: str | None) -> list[Account]:
        return self.state.provider_accounts(self.name)

    def wants_refresh_token(
        self, params: dict[str, str], scopes: tuple[str, ...], key: str, client_id: str
    ) -> bool:
        return "offline_access" in scopes

    def granted_scopes(
        self,
        requested: tuple[str, ...],
        previous: tuple[str, ...],
        params: dict[str, str],
        chosen: tuple[str, ...],
    ) -> tuple[str, ...]:
        return chosen

    def callback_extras(self, account: Account, params: dict[str, str]) -> dict[str, str]:
        return {}

    def token_extras(self, account: Account) -> dict[str, Any]:
        return {}

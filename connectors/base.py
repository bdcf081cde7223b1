"""The one small interface every provider implements, and the plain values it returns.

Connectors know nothing of Flask, Redis, rooms or users: they turn configuration and callback
parameters into frozen dataclasses, and raise the typed errors of `connectors.errors`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AuthRequest:
    """Where to send the browser, and what must be kept server-side until the callback.

    `flow` holds the PKCE verifier and nonce: it is secret and JSON-serialisable, and it
    leaves the server only sealed (the gateway's flow cookie, gateway/crypto/sealed.py).
    """

    url: str
    flow: dict[str, Any]


@dataclass(frozen=True)
class TokenSet:
    """The only tokens a grant keeps: never an ID token, never an authorization code.

    Google keeps its refresh token (it does not rotate) and the current access token;
    Microsoft keeps MSAL's serialized token cache in `cache` (its refresh token rotates on
    every refresh), with the ID-token section removed. `expires_at` is the access token's
    expiry in seconds since the epoch.
    """

    granted_scopes: frozenset[str]
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    cache: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "granted_scopes": sorted(self.granted_scopes),
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "cache": self.cache,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        return cls(
            granted_scopes=frozenset(data.get("granted_scopes") or ()),
            access_token=data.get("access_token"),
            expires_at=data.get("expires_at"),
            refresh_token=data.get("refresh_token"),
            cache=data.get("cache"),
        )


@dataclass(frozen=True)
class Identity:
    """Who signed in. `subject` is the provider's stable, non-reassignable key.

    `tokens` is set only when the flow asked for scopes beyond sign-in (a grant); sign-in
    alone keeps no token.
    """

    provider: str
    issuer: str
    subject: str
    email: str | None
    name: str | None
    granted_scopes: frozenset[str] = field(default_factory=frozenset)
    tokens: TokenSet | None = field(default=None, repr=False, compare=False)


class Connector(ABC):
    """A sign-in provider. Subclasses implement `begin` and `complete`.

    `name` is the configured name (the path segment of /auth/login/<name>); `title` is what a
    person sees on the sign-in button; `response_method` tells the gateway whether the
    provider's callback arrives as a GET (query) or a cross-site POST (form_post).
    """

    name: str
    title: str
    response_method: str = "GET"
    SIGN_IN_SCOPES: tuple[str, ...] = ("openid", "email", "profile")

    @abstractmethod
    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        """Build the authorization request (PKCE S256, state, nonce) for sign-in plus `scopes`."""

    @abstractmethod
    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        """Check the callback, redeem the code and validate the ID token."""

    # -- grants: providers whose calendars the gateway reads ----------------------------------
    supports_grants: bool = False

    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """A fresh access token. Raises `GrantInvalid` when the provider says invalid_grant
        (revoked, expired), `ProviderUnavailable` on 429/5xx/network failure."""
        raise NotImplementedError(f"{self.name} is for sign-in only")

    def revoke(self, tokens: TokenSet) -> bool:
        """Tell the provider to revoke the grant, where it can; True when it confirmed."""
        return False

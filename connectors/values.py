"""What a provider returns for sign-in, grants and calendars: plain frozen values, never
an event's title, place or people."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Busy = tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True)
class CalendarInfo:
    """One calendar a person can pick to back a room: never its events.

    `id` is what the free/busy call names; `access_role` is the provider's word for the
    person's access (Google: freeBusyReader, reader, writer, owner).
    """

    id: str
    name: str
    primary: bool
    access_role: str


@dataclass(frozen=True)
class CalendarBusy:
    """One calendar's busy intervals (UTC start, end), or the provider's error for it,
    which the gateway publishes as "unknown", never as free."""

    busy: Busy = ()
    error: str | None = None


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

    Google and Microsoft keep the refresh token (Microsoft's rotates on every refresh) and
    the current access token. `cache` is read only from Microsoft grants stored before
    issue 17, which kept MSAL's serialized token cache (ID tokens removed) instead of the
    refresh token; nothing writes it now. `expires_at` is the access token's expiry in
    seconds since the epoch.
    """

    granted_scopes: frozenset[str]
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    cache: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Fields that are None are left out (from_dict reads them as None): fewer bytes
        sealed per grant in Redis."""
        found = {
            "granted_scopes": sorted(self.granted_scopes),
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "cache": self.cache,
        }
        return {name: value for name, value in found.items() if value is not None}

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

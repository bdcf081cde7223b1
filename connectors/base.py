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

    `flow` holds the PKCE verifier and nonce: it is secret, JSON-serialisable, and never
    leaves the server.
    """

    url: str
    flow: dict[str, Any]


@dataclass(frozen=True)
class Identity:
    """Who signed in. `subject` is the provider's stable, non-reassignable key."""

    provider: str
    issuer: str
    subject: str
    email: str | None
    name: str | None
    granted_scopes: frozenset[str] = field(default_factory=frozenset)


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

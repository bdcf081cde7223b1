"""The one small contract every provider implements: the `Connector` class.

A provider is one module in `connectors/` that defines a `Connector` subclass and a
module-level `PROVIDER` (a `ProviderSpec`): what it is as data (kind, display name, its
`GATEWAY_*` settings, its `Capabilities`) and how to read its configuration. The registry
(connectors/registry.py) finds every such module; nothing outside `connectors/` names one.

The contract, for a provider whose capabilities say it has them:
- sign-in: `begin` / `complete` (PKCE, state, nonce, ID token checks);
- calendar authorization: `begin` with the purpose's scopes, `complete` returns its tokens;
- `refresh`, `revoke`;
- `list_calendars` (what a host may pick), `free_busy` for many calendars in one call
  (at most `capabilities.batch_size` calendars over at most `capabilities.window_limit`);
- `forget_grant`: drop whatever the connector keeps in memory about an ended grant.

Connectors know nothing of Flask, Redis, rooms or users: they turn configuration and callback
parameters into frozen dataclasses, and raise the typed errors of `connectors.errors`.

The rest of the contract, one module each: what a provider can do (`connectors.capabilities`),
how it declares and configures itself (`connectors.provider_spec`), the plain values it
returns (`connectors.values`) and those of its watches (`connectors.notifications`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from connectors.capabilities import SIGN_IN_ONLY, Capabilities, CredentialField
from connectors.notifications import Handshake, Notification, NotificationRefused, WatchStarted
from connectors.provider_spec import ProviderConfig
from connectors.values import AuthRequest, CalendarBusy, CalendarInfo, Identity, TokenSet


class Connector(ABC):
    """A provider. Subclasses implement `begin`, `complete` and `from_config`, and, when
    their `capabilities` say they back rooms, `refresh`, `list_calendars` and `free_busy`.

    `name` is the configured name (the path segment of /auth/login/<name>); `title` is what a
    person sees on the sign-in button; `response_method` tells the gateway whether the
    provider's callback arrives as a GET (query) or a cross-site POST (form_post).
    """

    name: str
    title: str
    kind: ClassVar[str]
    default_title: ClassVar[str]
    capabilities: ClassVar[Capabilities] = SIGN_IN_ONLY
    response_method: str = "GET"
    # A typed credential (capabilities.credential "app_password" / "feed_url"): the form's
    # fields, (title, server URL) presets that fill its URL field, and what the person is
    # told to do at the provider when the grant ends (no revocation endpoint).
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()
    credential_presets: ClassVar[tuple[tuple[str, str], ...]] = ()
    revoke_hint: ClassVar[str | None] = None
    SIGN_IN_SCOPES: tuple[str, ...] = ("openid", "email", "profile")

    @classmethod
    @abstractmethod
    def from_config(cls, config: ProviderConfig, ca_bundle: str | None = None) -> Connector:
        """The connector for one configured instance (its own module's config class)."""

    @property
    def supports_grants(self) -> bool:
        """Whether a person can grant this provider's calendars for a purpose."""
        return self.capabilities.calendars

    @abstractmethod
    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        """Build the authorization request (PKCE S256, state, nonce) for sign-in plus `scopes`
        (calendar authorization, when `scopes` asks for more than sign-in)."""

    @abstractmethod
    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        """Check the callback, redeem the code and validate the ID token."""

    def connect(self, fields: Mapping[str, str], scopes: tuple[str, ...]) -> Identity:
        """A grant from a typed credential (the consent page's `credential_fields`),
        checked with the provider at once. Raises `AuthorizationDenied` (its message is for
        the person: wrong password, refused address) or `ProviderUnavailable`."""
        raise NotImplementedError(f"{self.name} takes no typed credential")

    # -- grants: providers whose calendars the gateway reads ----------------------------------
    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """A fresh access token. Raises `GrantInvalid` when the provider says invalid_grant
        (revoked, expired), `ProviderUnavailable` on 429/5xx/network failure."""
        raise NotImplementedError(f"{self.name} is for sign-in only")

    def revoke(self, tokens: TokenSet) -> bool:
        """Tell the provider to revoke the grant, where it can; True when it confirmed."""
        return False

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        """The calendars a host can pick, primary first."""
        raise NotImplementedError(f"{self.name} has no calendars")

    def free_busy(
        self,
        access_token: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        grant: str | None = None,
    ) -> dict[str, CalendarBusy]:
        """Busy times of up to `capabilities.batch_size` calendars in one call, each
        calendar's own error where the provider gives one. 401: `AccessRefused`; 403 for
        want of scope: `ScopeRefused`; 429/5xx/network: `ProviderUnavailable`."""
        raise NotImplementedError(f"{self.name} has no calendars")

    def forget_grant(self, grant: str) -> None:
        """The grant ended (revoked, erased, refused): keep nothing of it in memory."""
        return None  # a connector that keeps nothing per grant has nothing to drop

    # -- watches: providers whose capabilities.watch is "channel" ---------------------------
    def can_watch_calendar(self, calendar_id: str) -> bool:
        """Whether a grant that may watch (`capabilities.can_watch`) can open a channel on
        this one of its calendars: False where the provider is known to refuse it (another
        mailbox, under a delegated permission), so that it is polled without trying."""
        return True

    def start_watch(
        self,
        access_token: str,
        calendar_id: str,
        *,
        watch_id: str,
        address: str,
        secret: str,
        ttl_seconds: int,
    ) -> WatchStarted:
        """Open a channel: the provider posts to `address` when `calendar_id` changes,
        carrying `secret`. Raises `ScopeRefused` when the grant may not watch,
        `AccessRefused` on 401, `ProviderUnavailable` otherwise."""
        raise NotImplementedError(f"{self.name} has no channels")

    def renew_watch(
        self, access_token: str, watch_id: str, resource_id: str, ttl_seconds: int
    ) -> float | None:
        """Extend an open channel by `ttl_seconds`: its new expiry, or None where a channel
        cannot be extended (the gateway opens another and closes the old)."""
        return None

    def stop_watch(self, access_token: str, watch_id: str, resource_id: str) -> bool:
        """Close a channel; True when the provider closed it or knew it no more."""
        raise NotImplementedError(f"{self.name} has no channels")

    def read_notification(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> list[Notification] | Handshake:
        """The notifications one webhook request carries (or the handshake to answer).
        Raises `NotificationRefused` for anything else."""
        raise NotificationRefused(f"{self.name} sends no notifications")

    # -- change checks: providers whose capabilities.watch is "check" -----------------------
    def change_token(
        self, access_token: str, calendar_id: str, previous: str | None = None
    ) -> str | None:
        """A short value that changes whenever the calendar does, read cheaply (no event);
        `previous` is what it returned last time (it may make the read conditional). None:
        the server offers no such value (the calendar stays polled). Raises
        `AccessRefused` on 401, `ConnectorError` when the server failed."""
        raise NotImplementedError(f"{self.name} has no change checks")

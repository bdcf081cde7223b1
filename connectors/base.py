"""The one small contract every provider implements, and the plain values it returns.

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
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

# -- what a provider is, as data ----------------------------------------------------------------
# How a host names the calendar behind a room: picked from `list_calendars` ("listed"), or
# typed as a mailbox address the free/busy call takes (Graph's getSchedule: "mailbox").
Addressing = Literal["listed", "mailbox", "none"]
# What a grant of this provider holds: OAuth tokens, an app password, a secret feed URL.
Credential = Literal["oauth_token", "app_password", "feed_url", "none"]
# How the provider tells of a change in a calendar: not at all (the gateway polls), by
# posting to the gateway's webhook on a channel the gateway opened for that calendar, or
# by a cheap version the gateway checks on a short interval ("check": `change_token`).
WatchKind = Literal["none", "channel", "check"]


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, so that the gateway asks this instead of its kind.

    `batch_size` calendars go into one free/busy call, over at most `window_limit`;
    `can_revoke`: the provider has a revocation endpoint (else the person is told where to
    remove the app); `sign_in`: it signs people in; `calendars`: it backs rooms.
    `watch`: how it tells of changes ("channel": `start_watch` and friends work), and
    `watch_scopes`: a grant holding any one of these may open a channel (a narrower grant
    is polled).
    """

    sign_in: bool
    calendars: bool
    credential: Credential = "none"
    can_revoke: bool = False
    batch_size: int = 0
    window_limit: timedelta = timedelta(0)
    addressing: Addressing = "none"
    watch: WatchKind = "none"
    watch_scopes: frozenset[str] = frozenset()

    def can_watch(self, granted: frozenset[str]) -> bool:
        """Whether a grant with `granted` scopes may open a channel on its calendars."""
        return self.watch == "channel" and bool(self.watch_scopes & granted)


SIGN_IN_ONLY = Capabilities(sign_in=True, calendars=False)


@dataclass(frozen=True)
class CredentialField:
    """One field of the consent page's form for a provider whose credential a person types
    (`app_password`, `feed_url`): its form name, label, input type and autocomplete hint.
    `secret`: the value is a credential even though it is not a password field (a feed's
    secret address), so the page never shows it back."""

    name: str
    label: str
    input_type: str = "text"
    autocomplete: str = "off"
    secret: bool = False


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    """One configured provider: `kind` picks the module, `name` is its URL segment
    (/auth/login/<name>, /auth/callback/<name>) and the key of everything stored for it.
    A provider module subclasses this with the settings it reads."""

    name: str
    kind: str
    title: str | None = None


@dataclass(frozen=True, kw_only=True)
class OAuthClientConfig(ProviderConfig):
    """A provider the gateway is a registered OAuth client of."""

    client_id: str
    client_secret: str = field(repr=False)


class SettingError(ValueError):
    """A provider's `GATEWAY_*` variables are wrong; the message is one line saying what to
    change (gateway/config.py shows it as a configuration error)."""


@dataclass(frozen=True)
class Setting:
    """One environment variable of a provider: `GATEWAY_<KIND>_<name>`, or, for a provider
    configured under names of its own, `GATEWAY_<KIND>_<NAME>_<name>`. `enables`: setting
    it means the provider is configured (so no emulator is started in its place)."""

    name: str
    meaning: str
    secret: bool = False
    enables: bool = False


@dataclass(frozen=True)
class ProviderEnv:
    """The `GATEWAY_*` variables as one provider reads them (values already stripped).

    `emulator_url` is set when the emulator stands in for the providers, with the client it
    registers for the gateway (`emulator_client`); `taken_names` are names other providers
    already use.
    """

    values: Mapping[str, str]
    emulator_url: str | None = None
    emulator_client: tuple[str, str] | None = field(default=None, repr=False)
    taken_names: frozenset[str] = frozenset()

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name) or default

    def client(self, prefix: str) -> tuple[str, str] | None:
        """`<prefix>_CLIENT_ID` and `_CLIENT_SECRET`: both, or neither."""
        client_id, secret = self.get(f"{prefix}_CLIENT_ID"), self.get(f"{prefix}_CLIENT_SECRET")
        if client_id and not secret:
            raise SettingError(f"{prefix}_CLIENT_SECRET is missing ({prefix}_CLIENT_ID is set)")
        if secret and not client_id:
            raise SettingError(f"{prefix}_CLIENT_ID is missing ({prefix}_CLIENT_SECRET is set)")
        return (client_id, secret) if client_id and secret else None


@dataclass(frozen=True)
class ProviderSpec:
    """What one provider module declares (its module-level `PROVIDER`).

    `configure` reads the provider's settings and returns its configured instances (none
    when it is not configured); `named`: it may be configured several times, each under a
    name of its own (`GATEWAY_<KIND>_<NAME>_*`). `emulated_names` are the names the emulator
    registers callbacks for when it stands in for this provider. `how_to_enable` completes
    "no sign-in provider is configured: set ...".
    """

    kind: str
    connector: type[Connector]
    settings: tuple[Setting, ...]
    configure: Callable[[ProviderEnv], list[ProviderConfig]]
    how_to_enable: str
    named: bool = False
    emulated_names: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.connector.default_title

    @property
    def capabilities(self) -> Capabilities:
        return self.connector.capabilities

    @property
    def prefix(self) -> str:
        return f"GATEWAY_{self.kind.upper()}"

    @property
    def variables(self) -> frozenset[str]:
        """Its exact variable names (none for a `named` provider: see `pattern`)."""
        if self.named:
            return frozenset()
        return frozenset(f"{self.prefix}_{s.name}" for s in self.settings)

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """A `named` provider's variables: group 1 is the name, group 2 the setting."""
        if not self.named:
            return None
        suffixes = "|".join(re.escape(s.name) for s in self.settings)
        return re.compile(rf"^{self.prefix}_([A-Z0-9]+)_({suffixes})$")

    def owns(self, variable: str) -> bool:
        pattern = self.pattern
        return variable in self.variables or bool(pattern and pattern.match(variable))

    def is_configured_in(self, env: Mapping[str, str]) -> bool:
        """Whether `env` configures this provider for real (not through the emulator)."""
        if self.named:
            return any(self.owns(name) for name in env)
        return any(env.get(f"{self.prefix}_{s.name}") for s in self.settings if s.enables)


# -- what a provider returns --------------------------------------------------------------------
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


@dataclass(frozen=True)
class WatchStarted:
    """A channel the provider opened: its id (the gateway's choice), the provider's id of
    the watched resource (needed to stop it) and when it expires (seconds since the epoch)."""

    watch_id: str
    resource_id: str
    expires_at: float


# What a notification says of its calendar: "sync" (the channel is open, nothing changed),
# "changed", "gone" (the calendar no longer exists), "missed" (notifications were lost:
# read again), "reauthorize" (renew the channel with a fresh token), "removed" (the
# provider closed the channel: open another).
NotificationState = Literal["sync", "changed", "gone", "missed", "reauthorize", "removed"]


@dataclass(frozen=True)
class Notification:
    """One notification, as plain values: which channel, what it says, the secret it
    carries (checked by the gateway in constant time) and its message number, where the
    provider numbers them (a repeated or older number is a duplicate). Never event data."""

    watch_id: str
    state: NotificationState
    secret: str = field(default="", repr=False)
    resource_id: str = ""
    number: int | None = None


@dataclass(frozen=True)
class Handshake:
    """What to answer a provider checking the webhook before it opens a channel."""

    body: str
    content_type: str = "text/plain"


class NotificationRefused(ValueError):
    """A request to the webhook that is no notification of this provider (4xx)."""


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

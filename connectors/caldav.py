"""CalDAV (RFC 4791): iCloud, Fastmail, Nextcloud, Radicale ... with an app password.

A grant's credential is the server address, the user name and an app-specific password the
host typed on the gateway's consent page; it is checked at once (the principal is
discovered, RFC 4791 §6.2.1 / RFC 6764 §5: the address itself, else its
`/.well-known/caldav`) and then kept, sealed, as the grant's refresh token (and, for the
free/busy calls, as its access token: `refresh` checks the password again every hour, so a
password changed or revoked at the server ends the grant through the usual
`GrantInvalid` / `AccessRefused` path and its rooms answer `needs_reconnect`).

Free/busy: the `free-busy-query` REPORT (RFC 4791 §7.10) where the server answers it,
otherwise a `calendar-query` with a time range asking only for the properties busy time
needs (§9.6 partial retrieval; servers may send more), expanded here with
recurring-ical-events. Either way only start and end times leave this module: titles,
locations, descriptions, attendees and organizers are never read into a returned value.

Every request goes through `connectors.outbound` (the address is a member's input: SSRF):
the `caldav` library's own requests session is replaced by a guarded one before it sends
anything. caldav 1.x is used, not 2.x/3.x: those bring niquests (a second HTTP stack the
guard would have to cover), dnspython SRV lookups of their own and sleeps on 429.

What a grant is and what an answer means for it lives here; the conversation with the
server in connectors/caldav_session.py, the wire format in connectors/caldav_dav.py, and
the busy-time reading CalDAV shares with ICS feeds in connectors/ical_busy.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from connectors import caldav_dav as dav
from connectors.base import (
    AuthRequest,
    CalendarBusy,
    CalendarInfo,
    Capabilities,
    Connector,
    CredentialField,
    Identity,
    ProviderConfig,
    ProviderEnv,
    ProviderSpec,
    Setting,
    SettingError,
    TokenSet,
)
from connectors.caldav_dav import Account
from connectors.caldav_session import CalDavSession
from connectors.errors import (
    AccessRefused,
    AuthorizationDenied,
    ConnectorError,
    GrantInvalid,
)
from connectors.outbound import Allowlist, OutboundGuard

CHECK_EVERY_SECONDS = 3600  # how long a checked password counts as an "access token"
RECHECK_SECONDS = 300  # after a check the server did not answer (the gateway refreshes
# a token 120 s before it expires: this is checked again about three minutes later)
CALL_SECONDS = 6.0  # one CalDAV call, redirects included (the free/busy deadline is 8 s)
SCOPES = ("caldav:free-busy",)
PRIMARY = "primary"  # the gateway's name for a grant's default calendar


@dataclass(frozen=True, kw_only=True)
class CalDavConfig(ProviderConfig):
    allowlist: str = ""


class CalDavConnector(Connector):
    """A CalDAV account reached with an app password (no sign-in, no OAuth)."""

    kind = "caldav"
    default_title = "CalDAV"
    capabilities = Capabilities(
        sign_in=False,
        calendars=True,
        credential="app_password",
        can_revoke=False,  # an app password is revoked at the provider, by the person
        batch_size=10,  # one REPORT per calendar: keep a grant's call under the deadline
        window_limit=timedelta(days=62),
        addressing="listed",
    )
    credential_fields = (
        CredentialField("server_url", "Server address", "url", "url"),
        CredentialField("username", "User name", "text", "username"),
        CredentialField("password", "App password", "password", "off"),
    )
    credential_presets = (
        ("iCloud", "https://caldav.icloud.com/"),
        ("Fastmail", "https://caldav.fastmail.com/dav/"),
        ("Nextcloud", "https://nextcloud.example.org/remote.php/dav/"),
    )
    revoke_hint = (
        "Also revoke the app password at your calendar provider (iCloud: "
        "account.apple.com, Sign-In and Security, App-Specific Passwords; Fastmail: "
        "Settings, Privacy & Security, App passwords; Nextcloud: Settings, Security, "
        "Devices & sessions)."
    )

    def __init__(
        self, name: str = "caldav", *, allowlist: str = "", ca_bundle: str | None = None
    ) -> None:
        self.name = name
        self.title = self.default_title
        self.guard = OutboundGuard(Allowlist.parse(allowlist))
        self.ca_bundle = ca_bundle
        self.call_seconds = CALL_SECONDS

    @classmethod
    def from_config(cls, config: ProviderConfig, ca_bundle: str | None = None) -> CalDavConnector:
        allowlist = config.allowlist if isinstance(config, CalDavConfig) else ""
        return cls(config.name, allowlist=allowlist, ca_bundle=ca_bundle)

    # -- no redirect flow: the consent page's form is the authorization ---------------------
    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        raise AuthorizationDenied("CalDAV is connected with an app password, not a sign-in")

    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        raise AuthorizationDenied("CalDAV is connected with an app password, not a sign-in")

    def connect(self, fields: Mapping[str, str], scopes: tuple[str, ...]) -> Identity:
        """Check the typed account at once; raises `AuthorizationDenied` with a message for
        the person (wrong password, not a CalDAV server, refused address) or
        `ProviderUnavailable` (the server did not answer)."""
        account = dav.typed_account(fields)
        self.guard.check_url(account.server_url)  # refuse before sending the password
        with self._session(account) as session:
            principal = session.discover()
            calendars = session.calendars(principal)
        primary = calendars[0][0] if calendars else None
        checked = Account(
            account.server_url, account.username, account.password, principal, primary
        )
        secret = checked.to_secret()
        tokens = TokenSet(
            granted_scopes=frozenset(scopes),
            access_token=secret,
            expires_at=time.time() + CHECK_EVERY_SECONDS,
            refresh_token=secret,
        )
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(principal))
        return Identity(
            provider=self.name,
            issuer=origin,
            subject=principal,
            email=None,
            name=None,
            granted_scopes=frozenset(scopes),
            tokens=tokens,
        )

    # -- grants ------------------------------------------------------------------------------
    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """Check the kept password again (one PROPFIND); refused: `GrantInvalid`.

        A server that does not answer is not a refusal, and must not count against every
        CalDAV grant: the gateway's circuit breaker is per provider, and each member names
        their own server, so one dead (or deliberately black-holed) server would otherwise
        open it for all of them. So the check is retried a few minutes later, and the
        calls themselves report that server's calendars unknown (see `free_busy`)."""
        account = Account.from_secret(tokens.refresh_token)
        lasts = CHECK_EVERY_SECONDS
        try:
            with self._session(account) as session:
                session.discover()
        except AuthorizationDenied as denied:
            if denied.code != "invalid_credentials":
                lasts = RECHECK_SECONDS  # no principal there now: look again soon
            else:
                raise GrantInvalid(
                    "The CalDAV server no longer accepts this password", code=denied.code
                ) from None
        except ConnectorError:  # unreachable, slow, refused address: not the password
            lasts = RECHECK_SECONDS
        return TokenSet(
            granted_scopes=tokens.granted_scopes,
            access_token=tokens.refresh_token,
            expires_at=time.time() + lasts,
            refresh_token=tokens.refresh_token,
        )

    def revoke(self, tokens: TokenSet) -> bool:
        return False  # no revocation endpoint: the person revokes the app password there

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        account = Account.from_secret(access_token)
        with self._session(account) as session:
            names = session.calendars(account.principal)
        return [
            CalendarInfo(id=url, name=name, primary=index == 0, access_role="owner")
            for index, (url, name) in enumerate(names)
        ]

    def free_busy(
        self,
        access_token: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        grant: str | None = None,
    ) -> dict[str, CalendarBusy]:
        account = Account.from_secret(access_token)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        answers: dict[str, CalendarBusy] = {}
        unreachable: str | None = None
        # one call per calendar: all of them within one call's time, so a server that is
        # slow but never quite too slow cannot hold a worker for ten calls' worth
        budget = time.monotonic() + self.call_seconds
        with self._session(account) as session:
            for calendar_id in calendar_ids:
                if not unreachable and time.monotonic() > budget:
                    unreachable = "provider_slow"
                if unreachable:  # the same server: do not wait for it again
                    answers[calendar_id] = CalendarBusy(error=unreachable)
                    continue
                try:
                    url = calendar_id
                    if calendar_id == PRIMARY:
                        url = account.primary or next(
                            (u for u, _ in session.calendars(account.principal)), ""
                        )
                    if not url.startswith(("https://", "http://")):
                        answers[calendar_id] = CalendarBusy(error="no_such_calendar")
                        continue
                    answers[calendar_id] = session.calendar_busy(url, start, end)
                except AccessRefused:
                    raise  # the password: the grant's matter, not this calendar's
                except ConnectorError as error:
                    # This member's server failed: its calendars are unknown, and no
                    # ProviderUnavailable reaches the breaker every CalDAV grant shares.
                    unreachable = error.code
                    answers[calendar_id] = CalendarBusy(error=unreachable)
        return answers

    def _session(self, account: Account) -> CalDavSession:
        return CalDavSession(account, self.guard, self.ca_bundle, self.call_seconds)


# -- configuration ------------------------------------------------------------------------------
def _configure(env: ProviderEnv) -> list[ProviderConfig]:
    """`GATEWAY_CALDAV_ENABLED=1` offers CalDAV; `GATEWAY_OUTBOUND_ALLOWLIST` lets it reach
    addresses inside the deployment (tests, an intranet server)."""
    enabled = (env.get(f"{PROVIDER.prefix}_ENABLED") or "0").lower()
    if enabled not in ("0", "1", "true", "false", "yes", "no"):
        raise SettingError(f"{PROVIDER.prefix}_ENABLED must be 0 or 1")
    if enabled not in ("1", "true", "yes"):
        return []
    allowlist = env.get("GATEWAY_OUTBOUND_ALLOWLIST") or ""
    try:
        Allowlist.parse(allowlist)
    except ValueError as error:
        raise SettingError(f"GATEWAY_OUTBOUND_ALLOWLIST: {error}") from None
    return [CalDavConfig(name=PROVIDER.kind, kind=PROVIDER.kind, allowlist=allowlist)]


PROVIDER = ProviderSpec(
    kind=CalDavConnector.kind,
    connector=CalDavConnector,
    settings=(Setting("ENABLED", "1: hosts may connect CalDAV calendars with an app password"),),
    configure=_configure,
    how_to_enable="GATEWAY_CALDAV_ENABLED=1",
)

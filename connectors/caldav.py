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
the busy-time reading CalDAV shares with ICS feeds in connectors/ical_busy.py, and what
every typed-credential provider shares (settings, tokens, no sign-in) in
connectors/typed_credential.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from connectors import caldav_dav as dav
from connectors.caldav_dav import Account
from connectors.caldav_session import CalDavSession
from connectors.capabilities import Capabilities, CredentialField
from connectors.errors import (
    AccessRefused,
    AuthorizationDenied,
    ConnectorError,
    GrantInvalid,
)
from connectors.typed_credential import (
    PRIMARY,
    TypedCredentialConnector,
    typed_credential_provider,
)
from connectors.values import CalendarBusy, CalendarInfo, Identity, TokenSet

SCOPES = ("caldav:free-busy",)


class CalDavConnector(TypedCredentialConnector):
    """A CalDAV account reached with an app password (no sign-in, no OAuth)."""

    kind = "caldav"
    default_title = "CalDAV"
    sign_in_refusal = "CalDAV is connected with an app password, not a sign-in"
    capabilities = Capabilities(
        sign_in=False,
        calendars=True,
        credential="app_password",
        can_revoke=False,  # an app password is revoked at the provider, by the person
        batch_size=10,  # one REPORT per calendar: keep a grant's call under the deadline
        window_limit=timedelta(days=62),
        addressing="listed",
        watch="check",  # no push: its sync-token / CTag is checked on a short interval
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
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(principal))
        return self.identity(checked.to_secret(), scopes, issuer=origin, subject=principal)

    # -- grants ------------------------------------------------------------------------------
    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """Check the kept password again (one PROPFIND); refused: `GrantInvalid`.

        A server that does not answer is not a refusal, and must not count against every
        CalDAV grant: the gateway's circuit breaker is per provider, and each member names
        their own server, so one dead (or deliberately black-holed) server would otherwise
        open it for all of them. So the check is retried a few minutes later, and the
        calls themselves report that server's calendars unknown (see `free_busy`)."""
        account = Account.from_secret(tokens.refresh_token)
        try:
            with self._session(account) as session:
                session.discover()
        except AuthorizationDenied as denied:
            if denied.code != "invalid_credentials":
                # no principal there now: look again soon
                return self.rechecked_tokens(tokens, answered=False)
            raise GrantInvalid(
                "The CalDAV server no longer accepts this password", code=denied.code
            ) from None
        except ConnectorError:  # unreachable, slow, refused address: not the password
            return self.rechecked_tokens(tokens, answered=False)
        return self.rechecked_tokens(tokens, answered=True)

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

    def change_token(
        self, access_token: str, calendar_id: str, previous: str | None = None
    ) -> str | None:
        """The calendar's DAV:sync-token (RFC 6578), else its CTag: one PROPFIND of depth 0
        that reads no event. (python-caldav's `objects_by_sync_token` would also list the
        changed events: a REPORT the gateway does not need, the days are read again.)"""
        account = Account.from_secret(access_token)
        with self._session(account) as session:
            url = calendar_id
            if calendar_id == PRIMARY:
                url = account.primary or next(
                    (u for u, _ in session.calendars(account.principal)), ""
                )
            if not url.startswith(("https://", "http://")):
                return None
            return session.change_token(url)

    def _session(self, account: Account) -> CalDavSession:
        return CalDavSession(account, self.guard, self.ca_bundle, self.call_seconds)


PROVIDER = typed_credential_provider(
    CalDavConnector, "1: hosts may connect CalDAV calendars with an app password"
)

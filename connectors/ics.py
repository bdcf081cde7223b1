"""ICS feeds: a calendar published at a secret address (RFC 5545 over https).

Google Calendar's "secret address in iCal format", Outlook's "publish a calendar" ICS
link, Nextcloud's and Fastmail's shared links: whoever holds the address reads the
calendar, so the address is the credential. The host pastes it on the gateway's consent
page (one field, `feed_url`); it is fetched once at once (not an address, not a calendar,
too large: a clear refusal and nothing kept) and then kept sealed in the grant's vault as
its refresh token and, for the free/busy calls, as its access token, exactly as CalDAV's
app password is. It never reaches a log line, an answer or Redis in plaintext: the
grant's subject is a digest of it, its issuer only the feed's origin.

A feed has one calendar ("primary"), no sign-in and no revocation endpoint: the person is
told to reset the secret address at their provider. When the address answers 401, 403,
404 or 410, it was reset (or withdrawn): the grant ends and its rooms answer
`needs_reconnect`. A feed that does not answer, answers slowly or answers garbage makes
its room unknown, never free, and does not count against other members' feeds (the
gateway's circuit breaker is per provider; each feed is its own server).

Fetching, conditional GET and what is remembered between fetches: connectors/ics_feed.py;
what every typed-credential provider shares: connectors/typed_credential.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from connectors.capabilities import Capabilities, CredentialField
from connectors.errors import (
    AccessRefused,
    AuthorizationDenied,
    ConnectorError,
    GrantInvalid,
    ProviderUnavailable,
)
from connectors.ical_busy import clip
from connectors.ics_feed import (
    FEED_BYTES,
    GONE,
    FeedAddress,
    FeedAnswer,
    FeedMemo,
    Remembered,
    change_token,
    fetch,
    parse,
    remember,
    typed_address,
    validators_of,
)
from connectors.typed_credential import (
    PRIMARY,
    TypedCredentialConnector,
    typed_credential_provider,
)
from connectors.values import CalendarBusy, CalendarInfo, Identity, TokenSet

SCOPES = ("ics:feed",)


class IcsConnector(TypedCredentialConnector):
    """A calendar read from its secret ICS address (no sign-in, no OAuth, one calendar)."""

    kind = "ics"
    default_title = "ICS feed"
    sign_in_refusal = "A feed is connected with its address, not a sign-in"
    capabilities = Capabilities(
        sign_in=False,
        calendars=True,
        credential="feed_url",
        can_revoke=False,  # the person resets the secret address at the provider
        batch_size=1,  # one calendar: the feed
        window_limit=timedelta(days=62),
        addressing="listed",
        watch="check",  # no push: a conditional GET on a short interval
    )
    credential_fields = (
        CredentialField("feed_url", "Secret address in iCal format", "url", secret=True),
    )
    revoke_hint = (
        "Also reset the calendar's secret address at your calendar provider, so that the "
        "old one stops working (Google Calendar: Settings, the calendar, Integrate calendar, "
        "Secret address in iCal format, Reset; Outlook: Settings, Calendar, Shared calendars, "
        "Publish a calendar, Reset links)."
    )

    def __init__(
        self, name: str | None = None, *, allowlist: str = "", ca_bundle: str | None = None
    ) -> None:
        super().__init__(name, allowlist=allowlist, ca_bundle=ca_bundle)
        self.memo = FeedMemo()

    def connect(self, fields: Mapping[str, str], scopes: tuple[str, ...]) -> Identity:
        """Fetch the typed address once and read it as a calendar; raises
        `AuthorizationDenied` with a message for the person (refused address, no feed
        there, not a calendar, too large) or `ProviderUnavailable` (no answer in time)."""
        address = typed_address(fields.get("feed_url"))
        self.guard.check_url(address.url)  # refuse before anything is sent
        try:
            answer = self._fetch(address)
        except ProviderUnavailable as error:
            if error.code == "too_large":
                raise AuthorizationDenied(
                    f"That feed is larger than {FEED_BYTES // (1024 * 1024)} MB.",
                    code="feed_too_large",
                ) from None
            raise
        if answer.status in GONE:
            raise AuthorizationDenied(
                f"There is no calendar feed at that address (the server answered "
                f"{answer.status}). Copy the secret address again from your calendar.",
                code="no_feed",
            )
        if answer.status != 200:
            raise ProviderUnavailable(f"the feed's server answered {answer.status}")
        try:
            parse(answer.body)
        except ValueError:
            raise AuthorizationDenied(
                "That address does not give an iCalendar (.ics) feed. Copy the secret "
                "address in iCal format from your calendar's settings.",
                code="not_a_calendar",
            ) from None
        return self.identity(
            address.url,
            scopes,
            issuer=address.origin,
            subject=f"sha256:{address.digest}",  # stable per address, never the address
        )

    # -- grants ------------------------------------------------------------------------------
    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """Look at the feed again (conditional GET: usually a 304); 401/403/404/410:
        `GrantInvalid`. A server that does not answer is not a refusal: it is looked at
        again within minutes, and the calls report the feed unknown meanwhile."""
        address = _address(tokens.refresh_token)
        try:
            answer = self._fetch(address, self.memo.of_address(address))
        except ConnectorError:  # unreachable, slow, refused address, too large
            return self.rechecked_tokens(tokens, answered=False)
        if answer.status in GONE:
            raise GrantInvalid("The feed's address no longer answers", code="feed_gone")
        return self.rechecked_tokens(tokens, answered=answer.status in (200, 304))

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        address = _address(access_token)
        name = f"Feed at {address.origin.split('://', 1)[-1]}"
        return [CalendarInfo(id=PRIMARY, name=name, primary=True, access_role="reader")]

    def free_busy(
        self,
        access_token: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        grant: str | None = None,
    ) -> dict[str, CalendarBusy]:
        address = _address(access_token)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        answers = {c: CalendarBusy(error="no_such_calendar") for c in calendar_ids}
        if PRIMARY in answers:
            answers[PRIMARY] = self._feed_busy(address, start, end, grant)
        return answers

    def forget_grant(self, grant: str) -> None:
        self.memo.forget(grant)

    def change_token(
        self, access_token: str, calendar_id: str, previous: str | None = None
    ) -> str | None:
        """A conditional GET with the validators of `previous`: a 304 is no change (the
        same token), a 200 a token of its validators and body digest. 401/403/404/410:
        `AccessRefused` (the refresh then decides whether the grant ended)."""
        if calendar_id != PRIMARY:
            return None
        answer = self._fetch_validated(_address(access_token), previous)
        if answer.status == 304 and previous is not None:
            return previous
        if answer.status == 304:  # a validator we did not send
            answer = self._fetch_validated(_address(access_token), None)
        if answer.status in GONE:
            raise AccessRefused("The feed's address no longer answers")
        if answer.status != 200:
            raise ProviderUnavailable(f"the feed's server answered {answer.status}")
        return change_token(answer)

    def _fetch_validated(self, address: FeedAddress, previous: str | None) -> FeedAnswer:
        return fetch(
            address, self.guard, self.ca_bundle, self.call_seconds, validators_of(previous)
        )

    # -- the feed ----------------------------------------------------------------------------
    def _feed_busy(
        self, address: FeedAddress, start: datetime, end: datetime, grant: str | None
    ) -> CalendarBusy:
        known = self.memo.get(grant, address)
        if known is not None and not known.covers(start, end):
            known = None  # a range it was not computed for: download it whole
        try:
            answer = self._fetch(address, known)
            if answer.status == 304 and known is None:  # a validator we did not send
                answer = self._fetch(address)
        except ConnectorError as error:
            # This member's server failed: the feed is unknown, and no ProviderUnavailable
            # reaches the breaker every feed shares.
            return CalendarBusy(error=error.code)
        if answer.status in GONE:
            # looked at once more by the refresh the gateway forces (a server's passing 404
            # does not end a grant), which ends the grant if it answers the same
            raise AccessRefused("The feed's address no longer answers")
        fresh: Remembered
        if answer.status == 304 and known is not None:
            fresh = known
        elif answer.status == 200:
            try:
                fresh = remember(answer, address, start, end)
            except ValueError:
                return CalendarBusy(error="malformed")
        else:
            return CalendarBusy(error=f"http_{answer.status}")
        self.memo.keep(grant, fresh)
        return CalendarBusy(busy=clip(list(fresh.busy), start, end))

    def _fetch(self, address: FeedAddress, known: Remembered | None = None) -> FeedAnswer:
        return fetch(address, self.guard, self.ca_bundle, self.call_seconds, known)


def _address(secret: str | None) -> FeedAddress:
    if not secret or not secret.startswith(("https://", "http://")):
        raise GrantInvalid("the grant holds no readable feed address")
    return FeedAddress(secret)


PROVIDER = typed_credential_provider(
    IcsConnector, "1: hosts may connect a calendar by its secret ICS address"
)

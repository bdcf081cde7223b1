"""Google: OpenID Connect via Authlib, with Google's two issuer forms and offline access.

Grants (calendar scopes) keep Google's refresh token, which does not rotate. Refresh goes
through google-auth's `Credentials`; revocation through the discovery document's RFC 7009
`revocation_endpoint` (PROTOCOLS.md §1.3, §1.5, §1.8, §1.9). Calendars: calendarList.list
and freebusy.query through google-api-python-client (its bundled discovery document), up
to 50 calendars per freeBusy call.

Google's freeBusy returns errors per calendar inside a 200; they are that calendar's error
(published "unknown"), as is a calendar missing from the answer, one without its busy list,
or an answer that does not cover the asked range (PROTOCOLS.md §1.7). Only start and end
times cross this module's boundary.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import google_auth_httplib2
import httplib2
import requests
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from connectors.base import (
    CalendarBusy,
    CalendarInfo,
    Capabilities,
    ProviderConfig,
    ProviderEnv,
    ProviderSpec,
    Setting,
    TokenSet,
)
from connectors.errors import (
    AccessRefused,
    AuthorizationDenied,
    GrantInvalid,
    ProviderUnavailable,
    ScopeRefused,
    TokenExchangeFailed,
)
from connectors.http import DEFAULT_TIMEOUT, BoundedHttp, retry_after
from connectors.oidc import TRANSIENT_ERRORS, OidcConfig, OidcConnector, _safe_code

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GOOGLE_ISSUER = "https://accounts.google.com"
# Google still returns the legacy form for some implementations (PROTOCOLS.md §1.1).
GOOGLE_ISSUERS = frozenset({GOOGLE_ISSUER, "accounts.google.com"})
# google-auth's own words when Google answers invalid_grant/invalid_rapt (a reauth policy).
REAUTH_NEEDED = "Reauthentication is needed"
# The Calendar API's host; an emulator serves it at its discovery document's origin (§1.9).
GOOGLE_API_BASE = "https://www.googleapis.com"
CALENDAR_LIST_PAGE = 250  # calendarList.list: "never larger than 250" entries a page
CALENDAR_LIST_PAGES = 20  # 5,000 calendars: more is a broken answer, not an account
# freeBusy 403 reasons that are rate limits (try later), not a refusal of the grant.
RATE_LIMITS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
)

log = logging.getLogger(__name__)


class GoogleConnector(OidcConnector):
    """Google sign-in; calendar scopes are added incrementally (include_granted_scopes)."""

    kind = "google"
    default_title = "Google"
    capabilities = Capabilities(
        sign_in=True,
        calendars=True,
        credential="oauth_token",
        can_revoke=True,
        batch_size=50,  # freeBusy items per call
        window_limit=timedelta(days=60),  # Google refuses past ~90 days (PROTOCOLS §1.7)
        addressing="listed",
    )

    @classmethod
    def from_config(cls, config: ProviderConfig, ca_bundle: str | None = None) -> GoogleConnector:
        if not isinstance(config, OidcConfig):
            raise TypeError(f"{cls.__name__} needs a OidcConfig, not {type(config).__name__}")
        return cls(
            config.name,
            client_id=config.client_id,
            client_secret=config.client_secret,
            discovery_url=config.discovery_url or GOOGLE_DISCOVERY_URL,
            ca_bundle=ca_bundle,
        )

    def __init__(
        self,
        name: str = "google",
        *,
        client_id: str,
        client_secret: str,
        discovery_url: str = GOOGLE_DISCOVERY_URL,
        ca_bundle: str | None = None,
    ) -> None:
        super().__init__(
            name,
            discovery_url=discovery_url,
            client_id=client_id,
            client_secret=client_secret,
            ca_bundle=ca_bundle,
            title="Google",
            # Google's own discovery URL names its issuer; an emulator's names its own URL.
            expected_issuer=GOOGLE_ISSUER if discovery_url == GOOGLE_DISCOVERY_URL else None,
        )
        # The Calendar API is Google's for Google's own discovery URL, and the discovery
        # document's origin otherwise (the emulator, PROTOCOLS.md §1.9).
        if discovery_url == GOOGLE_DISCOVERY_URL:
            api_origin = GOOGLE_API_BASE
        else:
            parts = urlsplit(discovery_url)
            api_origin = f"{parts.scheme}://{parts.netloc}"
        self.calendar_api = f"{api_origin}/calendar/v3/"
        self._local = threading.local()  # httplib2 and a built Resource: one per thread

    def accepted_issuers(self) -> frozenset[str]:
        if self.expected_issuer == GOOGLE_ISSUER:
            return GOOGLE_ISSUERS
        return frozenset({self.expected_issuer})

    def authorize_params(self, scopes: tuple[str, ...]) -> dict[str, str]:
        if not scopes:
            return {"prompt": "select_account"}
        # A refresh token is issued only with offline access and a consent screen.
        return {"access_type": "offline", "include_granted_scopes": "true", "prompt": "consent"}

    # -- grants --------------------------------------------------------------------------------
    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """A new access token for the whole grant, with the scopes Google says it still covers.

        No `scope` is sent: a refresh that names a scope the person has since withdrawn is
        refused (invalid_scope), while one without reports the grant as it now stands, so a
        narrowed grant shows up as fewer `granted_scopes` (`scopes` is therefore unused).
        A 429/5xx is retried at most twice, never before its Retry-After (google-auth's own
        retry ignores Retry-After, so the transport retries and google-auth never does).
        """
        if not tokens.refresh_token:
            raise GrantInvalid("the grant holds no Google refresh token")
        token_uri = self.metadata()["token_endpoint"]
        credentials = google.oauth2.credentials.Credentials(
            token=None,
            refresh_token=tokens.refresh_token,
            token_uri=token_uri,
            client_id=self.client_id,
            client_secret=self._client_secret,
        )
        transport = _TokenTransport(self._session)
        try:
            credentials.refresh(transport)
        except google.auth.exceptions.RefreshError as error:
            raise _refresh_error(error) from None
        except _Unavailable as error:
            raise ProviderUnavailable(
                "Google's token endpoint is unavailable",
                code="provider_busy",
                retry_after=error.retry_after,
            ) from None
        except google.auth.exceptions.TransportError:
            raise ProviderUnavailable("Google's token endpoint did not answer") from None
        except (TypeError, ValueError, KeyError):  # a 200 whose body is not a token answer
            raise ProviderUnavailable("Google's token endpoint answered unreadably") from None
        access = credentials.token
        if not isinstance(access, str) or not access:
            raise ProviderUnavailable("Google's token answer holds no access token")
        # RFC 6749 §5.1: without `scope` in the answer, the grant is what it was.
        granted = (
            frozenset(transport.scope.split())
            if transport.scope is not None
            else tokens.granted_scopes
        )
        return TokenSet(
            granted_scopes=granted,
            access_token=access,
            expires_at=_epoch(credentials.expiry),
            # Google keeps the refresh token; should it ever send a new one, keep that.
            refresh_token=credentials.refresh_token or tokens.refresh_token,
        )

    def revoke(self, tokens: TokenSet) -> bool:
        """Revoke the grant at Google (RFC 7009 form body `token=`, no client auth).

        The refresh token is preferred (revoking it ends the whole grant); an access token
        is used only when there is no refresh token. Google answers 400 `invalid_token` for
        a token already revoked or expired: the grant is gone either way, so that is True.
        """
        token = tokens.refresh_token or tokens.access_token
        endpoint = self.metadata().get("revocation_endpoint")
        if not token or not isinstance(endpoint, str):
            return False
        try:
            response = self._session.post(
                endpoint,
                data={"token": token},
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except requests.RequestException as error:
            raise ProviderUnavailable(
                f"Google's revocation endpoint did not answer ({type(error).__name__})"
            ) from None
        if response.status_code == 200:
            return True
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(
                f"Google's revocation endpoint answered {response.status_code}"
            )
        if response.status_code == 400 and _oauth_error(response) == "invalid_token":
            return True
        log.warning("Google refused a revocation: HTTP %s", response.status_code)
        return False

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        """The person's calendars (calendarList.list through google-api-python-client),
        primary first; needs a token with calendar.calendarlist.readonly or broader.

        Raises `AuthorizationDenied` when Google refuses the token (401, 403 other than a
        rate limit), `ProviderUnavailable` on 429/5xx, network failure or an unreadable answer.
        """
        transport = BoundedHttp(self._ca_bundle)
        credentials = google.oauth2.credentials.Credentials(token=access_token)
        # An access token alone: a 401 is an answer to report, not a cue to refresh here.
        http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=transport, refresh_status_codes=()
        )
        entries: list[dict[str, Any]] = []
        try:
            with build(
                "calendar",
                "v3",
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.calendar_api},
            ) as service:
                request = service.calendarList().list(maxResults=CALENDAR_LIST_PAGE)
                for _ in range(CALENDAR_LIST_PAGES):
                    if request is None:
                        break
                    page = request.execute(num_retries=1)
                    entries.extend(i for i in page.get("items", ()) if isinstance(i, dict))
                    request = service.calendarList().list_next(request, page)
        except HttpError as error:
            raise _calendar_error(error) from None
        except (httplib2.HttpLib2Error, OSError, ValueError, AttributeError) as error:
            raise ProviderUnavailable(
                f"Google's calendar list did not answer ({type(error).__name__})"
            ) from None
        finally:
            transport.close()
        calendars = [
            CalendarInfo(
                id=str(entry["id"]),
                name=str(entry.get("summaryOverride") or entry.get("summary") or entry["id"]),
                primary=entry.get("primary") is True,
                access_role=str(entry.get("accessRole", "")),
            )
            for entry in entries
            if isinstance(entry.get("id"), str) and entry.get("deleted") is not True
        ]
        return sorted(calendars, key=lambda c: not c.primary)

    # -- free/busy ---------------------------------------------------------------------------
    def _freebusy_http(self, access_token: str) -> google_auth_httplib2.AuthorizedHttp:
        # httplib2 keeps the connection alive; one Http per thread (it is not thread-safe).
        # Connect (TCP and TLS) within 3 s, read within 10 s, as every provider call.
        base = getattr(self._local, "http", None)
        if base is None:
            base = BoundedHttp(self._ca_bundle)
            self._local.http = base
        # An access token alone: a 401 is the answer (AccessRefused), never a cue for
        # google-auth to try a refresh it cannot do (it would raise RefreshError instead).
        return google_auth_httplib2.AuthorizedHttp(
            google.oauth2.credentials.Credentials(token=access_token),
            http=base,
            refresh_status_codes=(),
        )

    def _freebusy_service(self) -> Any:
        # A Resource is cheap to use but slow to build; one per thread, requests get their
        # own authorised http at execute time.
        service = getattr(self._local, "service", None)
        if service is None:
            service = build(
                "calendar",
                "v3",
                http=BoundedHttp(self._ca_bundle),  # static discovery: never used to call out
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.calendar_api},
            )
            self._local.service = service
        return service

    def free_busy(
        self,
        access_token: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        grant: str | None = None,
    ) -> dict[str, CalendarBusy]:
        body = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "timeZone": "UTC",
            "items": [{"id": cid} for cid in calendar_ids],
        }
        try:
            answer = (
                self._freebusy_service()
                .freebusy()
                .query(body=body)
                .execute(http=self._freebusy_http(access_token), num_retries=0)
            )
        except HttpError as error:
            raise _freebusy_error(error) from None
        except google.auth.exceptions.RefreshError:  # only if google-auth refreshes anyway
            raise AccessRefused("Google refused the access token") from None
        except (httplib2.HttpLib2Error, OSError, ValueError) as error:
            raise ProviderUnavailable(
                f"Google Calendar did not answer ({type(error).__name__})"
            ) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("calendars"), dict):
            raise ProviderUnavailable("Google Calendar answered without calendars")
        if not _covers(answer, start, end):
            return {cid: CalendarBusy(error="partial") for cid in calendar_ids}
        return {cid: _calendar_busy(answer["calendars"].get(cid)) for cid in calendar_ids}

    def forget_grant(self, grant: str) -> None:
        """Nothing of a grant is kept between calls (each has its own authorised http)."""


class _Unavailable(google.auth.exceptions.TransportError):
    """The token endpoint still answered 429/5xx after the retries (or asked for a wait
    longer than TOKEN_RETRY_MAX_WAIT): google-auth lets a TransportError through as is."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("token endpoint unavailable")
        self.retry_after = retry_after


TOKEN_RETRIES = 2  # SECURITY.md T19: at most two retries, with jitter
TOKEN_RETRY_MAX_WAIT = 3.0  # a longer Retry-After is not waited for inside a request
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class _TokenTransport(google.auth.transport.requests.Request):
    """google-auth's requests transport over the connector's session (CA bundle, no proxy
    settings from the environment, no redirects) with its bounded timeouts, remembering
    the `scope` of the token endpoint's successful answer (and nothing else of it).

    It also owns the retry policy: google-auth's retries wait 1 s and 2 s whatever the
    Retry-After says, so a transient answer is retried here (after max(Retry-After,
    jittered back-off)) and, if it persists, raised as `_Unavailable`, which google-auth
    does not retry.
    """

    def __init__(self, session: requests.Session) -> None:
        super().__init__(session=session)
        self.scope: str | None = None

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        backoff = 1.0
        for attempt in range(TOKEN_RETRIES + 1):
            response = self._once(url, method, body, headers, timeout, **kwargs)
            if not _transient(response):
                return response
            advised = retry_after(response.headers.get("retry-after"))
            if attempt == TOKEN_RETRIES or (advised or 0.0) > TOKEN_RETRY_MAX_WAIT:
                raise _Unavailable(advised)
            wait = backoff * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)
            if advised is not None:  # never before the provider's time, a little after it
                wait = max(wait, advised * random.uniform(1.0, 1.1))  # noqa: S311
            time.sleep(wait)
            backoff *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        # google-auth would pass its own 120 s: keep the session's bounded timeouts instead.
        bounded = getattr(self.session, "default_timeout", DEFAULT_TIMEOUT)
        response = super().__call__(
            url, method=method, body=body, headers=headers, timeout=bounded, **kwargs
        )
        if response.status == 200:
            try:
                answer = json.loads(response.data)
            except (TypeError, ValueError):
                answer = None
            scope = answer.get("scope") if isinstance(answer, dict) else None
            self.scope = scope if isinstance(scope, str) else None
        return response

    def __del__(self) -> None:
        """The session belongs to the connector: do not close it (the base class would)."""


def _transient(response: Any) -> bool:
    """A token-endpoint answer worth retrying (google-auth's `_can_retry` set)."""
    if response.status in RETRYABLE_STATUSES:
        return True
    if response.status == 200:
        return False
    try:
        answer = json.loads(response.data)
    except (TypeError, ValueError):
        return False
    return isinstance(answer, dict) and answer.get("error") in TRANSIENT_ERRORS


def _calendar_error(error: HttpError) -> Exception:
    """Map a Calendar API error by status and reason; its text is never quoted."""
    status = error.resp.status
    details = error.error_details if isinstance(error.error_details, list) else []
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    if status == 429 or status >= 500 or reasons & {"rateLimitExceeded", "userRateLimitExceeded"}:
        return ProviderUnavailable(f"Google's calendar list answered {status}")
    if status in (401, 403):
        code = "insufficient_scope" if "insufficientPermissions" in reasons else "invalid_token"
        return AuthorizationDenied("Google refused to list the calendars", code=code)
    return ProviderUnavailable(f"Google's calendar list answered {status}")


def _refresh_error(error: google.auth.exceptions.RefreshError) -> Exception:
    """Map google-auth's RefreshError without ever carrying its text (it may quote a body)."""
    data = error.args[1] if len(error.args) > 1 else None
    code = data.get("error") if isinstance(data, dict) else None
    if code == "invalid_grant" or str(error.args[0] if error.args else "").startswith(
        REAUTH_NEEDED
    ):
        return GrantInvalid("Google no longer accepts this grant", code="invalid_grant")
    if error.retryable or code in TRANSIENT_ERRORS or not isinstance(code, str):
        # 429/5xx (after google-auth's retries), or an answer that is not an OAuth error.
        return ProviderUnavailable("Google's token endpoint is unavailable")
    return TokenExchangeFailed("Google refused to refresh the grant", code=_safe_code(code))


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def _epoch(expiry: datetime | None) -> float | None:
    """google-auth's expiry is a naive UTC datetime."""
    if expiry is None:
        return None
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    return expiry.timestamp()


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _covers(answer: dict[str, Any], start: datetime, end: datetime) -> bool:
    """The echoed timeMin/timeMax, where given, span the asked range (else: unknown)."""
    try:
        low = _utc(answer["timeMin"]) if "timeMin" in answer else start
        high = _utc(answer["timeMax"]) if "timeMax" in answer else end
    except (TypeError, ValueError, AttributeError):
        return False
    return low <= start and high >= end


def _calendar_busy(entry: Any) -> CalendarBusy:
    """One calendar of a freeBusy answer; anything but a clean busy list is its error."""
    if not isinstance(entry, dict):
        return CalendarBusy(error="missing")
    errors = entry.get("errors")
    if errors is not None and errors != []:
        first = errors[0] if isinstance(errors, list) and errors else None
        reason = first.get("reason") if isinstance(first, dict) else None
        return CalendarBusy(error=str(reason or "error"))
    periods = entry.get("busy")
    if not isinstance(periods, list):  # no busy list is not an empty one
        return CalendarBusy(error="malformed")
    try:
        busy = tuple((_utc(p["start"]), _utc(p["end"])) for p in periods)
    except (KeyError, TypeError, ValueError, AttributeError):
        return CalendarBusy(error="malformed")
    if any(s >= e for s, e in busy):
        return CalendarBusy(error="malformed")
    return CalendarBusy(busy=busy)


def _freebusy_error(error: HttpError) -> Exception:
    status = int(error.resp.status)
    wait = retry_after(error.resp.get("retry-after"))
    details = error.error_details if isinstance(error.error_details, list) else []
    reasons = {str(d.get("reason")) for d in details if isinstance(d, dict)}
    if status == 401:
        return AccessRefused("Google refused the access token")
    if status == 403 and reasons and not reasons & RATE_LIMITS:
        return ScopeRefused("Google refused this grant access to free/busy")
    if status in (403, 429) or status >= 500:
        return ProviderUnavailable(
            f"Google Calendar answered {status}", code="provider_busy", retry_after=wait
        )
    return ProviderUnavailable(f"Google Calendar refused the request ({status})", code="refused")


# -- configuration ------------------------------------------------------------------------------
def _configure(env: ProviderEnv) -> list[ProviderConfig]:
    """`GATEWAY_GOOGLE_CLIENT_ID` and `_SECRET`; with the emulator, its client by default."""
    pair = env.client(PROVIDER.prefix) or env.emulator_client
    if not pair:
        return []
    emulated = env.emulator_url
    return [
        OidcConfig(
            name=PROVIDER.kind,
            kind=PROVIDER.kind,
            client_id=pair[0],
            client_secret=pair[1],
            discovery_url=f"{emulated}/.well-known/openid-configuration" if emulated else None,
        )
    ]


PROVIDER = ProviderSpec(
    kind=GoogleConnector.kind,
    connector=GoogleConnector,
    settings=(
        Setting("CLIENT_ID", "Google OAuth client id", enables=True),
        Setting("CLIENT_SECRET", "Google OAuth client secret", secret=True),
    ),
    configure=_configure,
    how_to_enable="GATEWAY_GOOGLE_CLIENT_ID and _SECRET",
    emulated_names=("google",),
)

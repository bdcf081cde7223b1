"""Google: OpenID Connect via Authlib, with Google's two issuer forms and offline access.

Grants (calendar scopes) keep Google's refresh token, which does not rotate. Refresh goes
through google-auth's `Credentials`; revocation through the discovery document's RFC 7009
`revocation_endpoint` (PROTOCOLS.md §1.3, §1.5, §1.8, §1.9); the token endpoint's
transport and error mapping are connectors/google_tokens.py's. Calendars (calendarList.list
and freebusy.query) are connectors/google_calendar.py's; push channels (events.watch,
channels.stop, notifications) connectors/google_watch.py's.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import requests

from connectors.capabilities import Capabilities
from connectors.errors import (
    GrantInvalid,
    ProviderUnavailable,
)
from connectors.google_calendar import GoogleCalendarApi
from connectors.google_tokens import (
    TokenEndpointUnavailable,
    TokenTransport,
    epoch,
    oauth_error,
    refresh_error,
)
from connectors.google_watch import WATCH_SCOPES, GoogleWatchApi
from connectors.http import BoundedHttp, HttpPool
from connectors.oidc import OidcConnector
from connectors.oidc_config import OidcConfig
from connectors.provider_spec import ProviderConfig, ProviderEnv, ProviderSpec, Setting
from connectors.values import TokenSet

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GOOGLE_ISSUER = "https://accounts.google.com"
# Google still returns the legacy form for some implementations (PROTOCOLS.md §1.1).
GOOGLE_ISSUERS = frozenset({GOOGLE_ISSUER, "accounts.google.com"})
# The Calendar API's host; an emulator serves it at its discovery document's origin (§1.9).
GOOGLE_API_BASE = "https://www.googleapis.com"

log = logging.getLogger(__name__)


class GoogleConnector(GoogleCalendarApi, GoogleWatchApi, OidcConnector):
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
        watch="channel",  # events.watch (connectors/google_watch.py)
        watch_scopes=WATCH_SCOPES,
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
        self._local = threading.local()  # httplib2 for push channels' calls: one per thread
        self._service: Any = None  # the Calendar API's Resource, built once when first used
        self._service_lock = threading.Lock()
        self._freebusy: Any = None
        self._http_pool = HttpPool(lambda: BoundedHttp(ca_bundle))  # free/busy's connections

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
        transport = TokenTransport(self._session)
        try:
            credentials.refresh(transport)
        except google.auth.exceptions.RefreshError as error:
            raise refresh_error(error) from None
        except TokenEndpointUnavailable as error:
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
            expires_at=epoch(credentials.expiry),
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
        if response.status_code == 400 and oauth_error(response) == "invalid_token":
            return True
        log.warning("Google refused a revocation: HTTP %s", response.status_code)
        return False


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

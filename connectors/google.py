"""Google: OpenID Connect via Authlib, with Google's two issuer forms and offline access.

Grants (calendar scopes) keep Google's refresh token, which does not rotate. Refresh goes
through google-auth's `Credentials`; revocation through the discovery document's RFC 7009
`revocation_endpoint` (PROTOCOLS.md §1.3, §1.5, §1.8, §1.9).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import requests

from connectors.base import TokenSet
from connectors.errors import GrantInvalid, ProviderUnavailable, TokenExchangeFailed
from connectors.http import DEFAULT_TIMEOUT
from connectors.oidc import TRANSIENT_ERRORS, OidcConnector, _safe_code

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GOOGLE_ISSUER = "https://accounts.google.com"
# Google still returns the legacy form for some implementations (PROTOCOLS.md §1.1).
GOOGLE_ISSUERS = frozenset({GOOGLE_ISSUER, "accounts.google.com"})
# google-auth's own words when Google answers invalid_grant/invalid_rapt (a reauth policy).
REAUTH_NEEDED = "Reauthentication is needed"

log = logging.getLogger(__name__)


class GoogleConnector(OidcConnector):
    """Google sign-in; calendar scopes are added incrementally (include_granted_scopes)."""

    supports_grants = True

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
        google-auth retries 429/5xx itself (three attempts, about 3 s of back-off).
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


class _TokenTransport(google.auth.transport.requests.Request):
    """google-auth's requests transport over the connector's session (CA bundle, no proxy
    settings from the environment, no redirects) with its bounded timeouts, remembering
    the `scope` of the token endpoint's successful answer (and nothing else of it)."""

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

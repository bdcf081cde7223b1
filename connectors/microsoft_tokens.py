"""A Microsoft grant's tokens through MSAL: the refresh (from the grant's refresh token),
the refresh token of a grant stored before issue 17 (inside MSAL's serialized cache), the
mapping of a refused refresh to the connector errors, and MSAL's logs kept free of token
bodies.

A grant keeps what refreshing needs and nothing else: the refresh token, and the access
token with its expiry. Not MSAL's serialized cache: its account, app metadata and ID token
sections are never read again, and it made a Microsoft grant three times a Google one in
Redis (issue 17). MSAL redeems the refresh token itself (`acquire_token_by_refresh_token`,
in an app whose in-memory cache ends with the call), so its throttling, telemetry headers
and error answers are the same as before; Microsoft rotates the refresh token on every
refresh, and the new one is kept.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import msal
import requests
from msal.exceptions import MsalError

from connectors.errors import (
    ConsentWithdrawn,
    GrantInvalid,
    ProviderUnavailable,
    TokenExchangeFailed,
)
from connectors.oidc import _safe_code, expires_at
from connectors.values import TokenSet

# MSAL adds these itself and refuses them from callers (PROTOCOLS.md §2.4).
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})

# The section of MSAL's serialized cache that held the refresh token of a grant stored
# before issue 17 (its grants kept the whole cache, without ID and access tokens).
REFRESH_TOKEN_SECTION = "RefreshToken"  # noqa: S105 - a section name
# Token errors that say "try later" rather than "this grant is wrong".
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
# Token errors that say the refresh token can no longer be used without the person:
# expired or revoked (AADSTS70008, 700082, 50173), consent withdrawn (65001), MFA or
# Conditional Access (interaction_required).
DEAD_GRANT_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})
# Of those, consent withdrawn: `invalid_grant` with suberror `consent_required` and AADSTS65001.
CONSENT_REQUIRED = "consent_required"
CONSENT_ERROR_CODE = 65001


class _WithholdTokenBodies(logging.Filter):
    """MSAL logs a token answer that is not JSON verbatim: it may hold a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Token response is not in json format"):
            record.msg = "Token response is not in json format (body withheld)"
            record.args = ()
        return True


_MSAL_OAUTH2_LOG = logging.getLogger("msal.oauth2cli.oauth2")
if not any(isinstance(f, _WithholdTokenBodies) for f in _MSAL_OAUTH2_LOG.filters):
    _MSAL_OAUTH2_LOG.addFilter(_WithholdTokenBodies())


def refresh_token_of(tokens: TokenSet) -> str:
    """The grant's refresh token: its own field, or for a grant stored before issue 17 the
    one inside its serialized MSAL cache (read, never written again: the refresh stores
    the new token in the field and drops the cache)."""
    if tokens.refresh_token:
        return tokens.refresh_token
    if not tokens.cache:
        raise GrantInvalid("the grant holds no Microsoft refresh token")
    try:
        section = json.loads(tokens.cache).get(REFRESH_TOKEN_SECTION) or {}
        secrets = [str(entry["secret"]) for entry in section.values() if entry.get("secret")]
    except (TypeError, ValueError, AttributeError, KeyError):
        raise GrantInvalid("the grant's Microsoft token cache is unreadable") from None
    if not secrets:
        raise GrantInvalid("the grant's token cache holds no refresh token")
    return secrets[0]


def refresh_error(result: dict[str, Any]) -> Exception:
    """Map an MSAL error result; its description is never quoted (it is the provider's text)."""
    error = str(result.get("error", ""))
    if CONSENT_REQUIRED in (error, result.get("suberror")) or CONSENT_ERROR_CODE in (
        result.get("error_codes") or ()
    ):
        return ConsentWithdrawn(
            "Microsoft needs consent again for this grant", code=CONSENT_REQUIRED
        )
    if error in DEAD_GRANT_ERRORS or result.get("suberror") in DEAD_GRANT_ERRORS:
        return GrantInvalid("Microsoft no longer accepts this grant", code="invalid_grant")
    if error in TRANSIENT_ERRORS:
        return ProviderUnavailable("Microsoft's token endpoint is unavailable")
    return TokenExchangeFailed("Microsoft refused to refresh the grant", code=_safe_code(error))


class MsalGrantApi:
    """The grant half of the Microsoft connector (mixed into MicrosoftConnector, whose
    `_app` builds an MSAL application with a token cache of its own, per call)."""

    SIGN_IN_SCOPES: tuple[str, ...]

    if TYPE_CHECKING:  # MicrosoftConnector's

        def _app(
            self, cache: msal.TokenCache | None = None
        ) -> msal.ConfidentialClientApplication: ...

    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """A new access token for `scopes` through MSAL, from the grant's refresh token.

        Microsoft rotates the refresh token on every refresh: the returned TokenSet holds
        the new one (the old one if an answer carries none, RFC 6749 §6). `openid`,
        `profile` and `offline_access` are dropped from `scopes`: MSAL adds them itself.
        """
        refresh_token = refresh_token_of(tokens)
        wanted = [s for s in dict.fromkeys(scopes) if s not in RESERVED_SCOPES]
        try:
            result = self._app().acquire_token_by_refresh_token(
                refresh_token, wanted or list(self.SIGN_IN_SCOPES)
            )
        except (requests.RequestException, MsalError, ValueError) as error:
            # Network failure or timeout, a 5xx (MsalServiceError), an answer that is not
            # JSON or a discovery failure (ValueError): never quote them, they may hold a body.
            raise ProviderUnavailable(
                f"Microsoft's token endpoint did not answer ({type(error).__name__})"
            ) from None
        if "error" in result:
            raise refresh_error(result)
        access = result.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderUnavailable("Microsoft's token answer holds no access token")
        rotated = result.get("refresh_token")
        scope = result.get("scope")
        return TokenSet(
            # RFC 6749 §5.1: without `scope` in the answer, the scopes are those asked for.
            granted_scopes=frozenset(str(scope).split()) if scope else tokens.granted_scopes,
            access_token=access,
            expires_at=expires_at(None, result.get("expires_in")),
            refresh_token=rotated if isinstance(rotated, str) and rotated else refresh_token,
        )

    def revoke(self, tokens: TokenSet) -> bool:
        """Microsoft has no revocation endpoint (PROTOCOLS.md §2.8): nothing is confirmed.

        The refresh token stays valid at Microsoft until it expires or the person removes
        the app; deleting the stored tokens is all the gateway can do.
        """
        return False


class KeepsNothing(msal.TokenCache):
    """The kept apps' token cache: MSAL offers it every token it gets, and it drops them
    (a sign-in keeps no provider token; a grant's code is redeemed around its own cache)."""

    def add(self, event: dict[str, Any], now: float | None = None) -> None:
        return None

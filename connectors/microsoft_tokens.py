"""A Microsoft grant's tokens through MSAL: the refresh (from the grant's serialized
cache), what MSAL's token answers leave behind (the cache a grant keeps, without ID
tokens), the mapping of a refused refresh to the connector errors, and MSAL's logs kept
free of token bodies."""

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

# The serialized cache's ID-token section: a grant never keeps ID tokens.
ID_TOKEN_SECTION = "IdToken"  # noqa: S105 - a section name
# Nor the cache's copy of the access token: the TokenSet keeps the live one, and every
# refresh is forced (it never reads an access token from the cache). Redis bytes, issue 17.
ACCESS_TOKEN_SECTION = "AccessToken"  # noqa: S105 - a section name
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


def without_id_tokens(serialized: str) -> str:
    """A serialized MSAL cache with its ID-token section removed (we never keep ID tokens),
    and its access-token section (a second copy of TokenSet.access_token), without
    whitespace: what a grant keeps is sealed and stored per grant in Redis.

    MSAL finds the account and its refresh token without them.
    """
    data = json.loads(serialized)
    data.pop(ID_TOKEN_SECTION, None)
    data.pop(ACCESS_TOKEN_SECTION, None)
    return json.dumps(data, separators=(",", ":"))


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
    `_app` builds the MSAL application around a grant's cache)."""

    SIGN_IN_SCOPES: tuple[str, ...]

    if TYPE_CHECKING:  # MicrosoftConnector's

        def _app(
            self, cache: msal.TokenCache | None = None
        ) -> msal.ConfidentialClientApplication: ...

    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """A new access token for `scopes` through MSAL, from the grant's token cache.

        Microsoft rotates the refresh token on every refresh, so the returned TokenSet holds
        the updated cache (again without ID tokens). `openid`, `profile` and
        `offline_access` are dropped from `scopes`: MSAL adds them itself.
        """
        if not tokens.cache:
            raise GrantInvalid("the grant holds no Microsoft token cache")
        cache = msal.SerializableTokenCache()
        try:
            cache.deserialize(tokens.cache)
        except (TypeError, ValueError):
            raise GrantInvalid("the grant's Microsoft token cache is unreadable") from None
        wanted = [s for s in dict.fromkeys(scopes) if s not in RESERVED_SCOPES]
        try:
            app = self._app(cache)
            accounts = app.get_accounts()
            if not accounts:
                raise GrantInvalid("the grant's token cache holds no Microsoft account")
            result = app.acquire_token_silent_with_error(
                wanted or list(self.SIGN_IN_SCOPES), accounts[0], force_refresh=True
            )
        except (requests.RequestException, MsalError, ValueError) as error:
            # Network failure or timeout, a 5xx (MsalServiceError), an answer that is not
            # JSON or a discovery failure (ValueError): never quote them, they may hold a body.
            raise ProviderUnavailable(
                f"Microsoft's token endpoint did not answer ({type(error).__name__})"
            ) from None
        if result is None:  # MSAL found no refresh token for the account
            raise GrantInvalid("the grant's token cache holds no refresh token")
        if "error" in result:
            raise refresh_error(result)
        access = result.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderUnavailable("Microsoft's token answer holds no access token")
        scope = result.get("scope")
        return TokenSet(
            # RFC 6749 §5.1: without `scope` in the answer, the scopes are those asked for.
            granted_scopes=frozenset(str(scope).split()) if scope else tokens.granted_scopes,
            access_token=access,
            expires_at=expires_at(None, result.get("expires_in")),
            cache=without_id_tokens(cache.serialize()) if cache.has_state_changed else tokens.cache,
        )

    def revoke(self, tokens: TokenSet) -> bool:
        """Microsoft has no revocation endpoint (PROTOCOLS.md §2.8): nothing is confirmed.

        The refresh token stays valid at Microsoft until it expires or the person removes
        the app; deleting the stored cache is all the gateway can do.
        """
        return False

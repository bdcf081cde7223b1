"""What MSAL's token answers leave behind: the cache a grant keeps (without ID tokens),
the mapping of a refused refresh to the connector errors, and MSAL's logs kept free of
token bodies."""

from __future__ import annotations

import json
import logging
from typing import Any

from connectors.errors import (
    ConsentWithdrawn,
    GrantInvalid,
    ProviderUnavailable,
    TokenExchangeFailed,
)
from connectors.oidc import _safe_code

# The serialized cache's ID-token section: a grant never keeps ID tokens.
ID_TOKEN_SECTION = "IdToken"  # noqa: S105 - a section name
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
    """A serialized MSAL cache with its ID-token section removed (we never keep ID tokens).

    MSAL finds the account and its refresh token without it.
    """
    data = json.loads(serialized)
    data.pop(ID_TOKEN_SECTION, None)
    return json.dumps(data)


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

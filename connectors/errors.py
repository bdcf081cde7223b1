"""Typed errors raised by connectors; each carries a machine code for the API error shape.

ConnectorError
 ├── AuthorizationDenied     the provider (or the user there) refused: error=access_denied …
 ├── CallbackRejected        the callback itself is unacceptable: iss mismatch, no code
 ├── TokenExchangeFailed     the token endpoint refused: invalid_grant, invalid_client …
 │    └── GrantInvalid       a refresh was refused with invalid_grant: the grant is dead
 │         └── ConsentWithdrawn   … for want of consent (AADSTS65001): consent again
 ├── IdTokenInvalid          signature, alg, iss, aud, exp, nonce …
 │    └── TenantNotAllowed   a Microsoft tenant outside the allow-list
 ├── AccessRefused           a calendar API refused the access token (401)
 │    └── ScopeRefused       … or the grant's scopes (403 other than a rate limit)
 └── ProviderUnavailable     network failure, timeout, 5xx, unparseable answer
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every connector failure; `code` is stable, `message` is safe to show."""

    code = "provider_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class AuthorizationDenied(ConnectorError):
    code = "access_denied"


class CallbackRejected(ConnectorError):
    code = "callback_rejected"


class TokenExchangeFailed(ConnectorError):
    code = "token_exchange_failed"


class GrantInvalid(TokenExchangeFailed):
    code = "invalid_grant"


class ConsentWithdrawn(GrantInvalid):
    """The grant is dead for want of consent to a scope (Microsoft's AADSTS65001): the
    person can restore it by consenting again, unlike a revoked or expired grant."""

    code = "consent_required"


class IdTokenInvalid(ConnectorError):
    code = "id_token_invalid"


class TenantNotAllowed(IdTokenInvalid):
    code = "tenant_not_allowed"


class AccessRefused(ConnectorError):
    """A provider's API answered 401 to the grant's access token: the token (and perhaps
    the grant) is no longer accepted. Never an outage: the gateway refreshes once and, if
    the provider still refuses, ends the grant so its owner sees why."""

    code = "invalid_token"


class ScopeRefused(AccessRefused):
    """A provider's API answered 403 for want of permission (not a rate limit): the grant
    no longer covers the call, and the person must consent again."""

    code = "insufficient_scope"


class ProviderUnavailable(ConnectorError):
    """Try again later; `retry_after` is the provider's own advice in seconds, if it gave one."""

    code = "provider_unavailable"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

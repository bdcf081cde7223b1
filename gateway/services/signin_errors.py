"""A refused sign-in, and how a connector's error becomes one: a message safe to show and
the HTTP status to answer (gateway/errors.py renders it as a page or JSON)."""

from __future__ import annotations

from connectors.errors import (
    AuthorizationDenied,
    ConnectorError,
    IdTokenInvalid,
    ProviderUnavailable,
    TenantNotAllowed,
)


class SignInError(Exception):
    """A refused sign-in; `message` is safe to show, `status` is the HTTP status to answer."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def refusal(error: ConnectorError) -> SignInError:
    """What the person is told when the provider refused or failed a sign-in."""
    if isinstance(error, AuthorizationDenied):
        return SignInError(error.code, "Sign-in was cancelled or refused at the provider.", 403)
    if isinstance(error, TenantNotAllowed):
        return SignInError(error.code, "Accounts of your organisation may not sign in here.", 403)
    if isinstance(error, IdTokenInvalid):
        return SignInError(
            error.code, f"The provider's answer failed a check: {error.message}", 400
        )
    if isinstance(error, ProviderUnavailable):
        return SignInError(error.code, "The sign-in provider is not answering; try again.", 502)
    return SignInError(error.code, error.message, 400)

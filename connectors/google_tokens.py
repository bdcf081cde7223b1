"""Google's token endpoint under google-auth: a bounded transport with its own retries,
and the mapping of its refusals to the connector errors (connectors/errors.py)."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import requests

from connectors.errors import GrantInvalid, ProviderUnavailable, TokenExchangeFailed
from connectors.http import DEFAULT_TIMEOUT, retry_after
from connectors.oidc import TRANSIENT_ERRORS, _safe_code

# google-auth's own words when Google answers invalid_grant/invalid_rapt (a reauth policy).
REAUTH_NEEDED = "Reauthentication is needed"


class TokenEndpointUnavailable(google.auth.exceptions.TransportError):
    """The token endpoint still answered 429/5xx after the retries (or asked for a wait
    longer than TOKEN_RETRY_MAX_WAIT): google-auth lets a TransportError through as is."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("token endpoint unavailable")
        self.retry_after = retry_after


TOKEN_RETRIES = 2  # SECURITY.md T19: at most two retries, with jitter
TOKEN_RETRY_MAX_WAIT = 3.0  # a longer Retry-After is not waited for inside a request
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class TokenTransport(google.auth.transport.requests.Request):
    """google-auth's requests transport over the connector's session (CA bundle, no proxy
    settings from the environment, no redirects) with its bounded timeouts, remembering
    the `scope` of the token endpoint's successful answer (and nothing else of it).

    It also owns the retry policy: google-auth's retries wait 1 s and 2 s whatever the
    Retry-After says, so a transient answer is retried here (after max(Retry-After,
    jittered back-off)) and, if it persists, raised as `TokenEndpointUnavailable`, which google-auth
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
                raise TokenEndpointUnavailable(advised)
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


def refresh_error(error: google.auth.exceptions.RefreshError) -> Exception:
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


def oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def epoch(expiry: datetime | None) -> float | None:
    """google-auth's expiry is a naive UTC datetime."""
    if expiry is None:
        return None
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    return expiry.timestamp()

"""Sign-in: start a flow, check the callback, find or create the user.

The checks that protect the callback, in order: the `state` was issued to this browser
(its hash is in the session), the flow still exists (single-use, ten-minute TTL), it was
started for the provider whose callback path this is (one callback path per provider), and
then the connector checks `iss`, redeems the code with the PKCE verifier and validates the
ID token. Only then is a user signed in. A second provider is linked only when the flow was
started from a signed-in session for that same user; e-mail addresses never join accounts.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from connectors.base import Connector, Identity
from connectors.errors import (
    AuthorizationDenied,
    ConnectorError,
    IdTokenInvalid,
    ProviderUnavailable,
    TenantNotAllowed,
)
from gateway.request_log import security_event
from gateway.storage import keys
from gateway.storage.flows import FlowStore
from gateway.storage.users import IdentityTaken, LinkedIdentity, UserStore

log = logging.getLogger(__name__)

DEFAULT_NEXT = "/account"
MAX_PENDING_FLOWS = 5


class SignInError(Exception):
    """A refused sign-in; `message` is safe to show, `status` is the HTTP status to answer."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Started:
    url: str
    pending: list[str]


@dataclass(frozen=True)
class SignedIn:
    uid: str
    next_path: str
    linked: bool
    pending: list[str]
    # Keyed hashes of the identity just proved (Settings.identity_marks): the session keeps
    # them, and admin status is asked of the configuration on every request.
    marks: tuple[str, ...] = ()


def safe_next(raw: str | None) -> str:
    """Only a path on this site: no scheme, no host, no `//` or `/\\` that browsers read as one."""
    if not raw or not raw.startswith("/") or raw.startswith(("//", "/\\")):
        return DEFAULT_NEXT
    if any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw) or len(raw) > 512:
        return DEFAULT_NEXT
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return raw


class SignInService:
    def __init__(
        self,
        connectors: Mapping[str, Connector],
        flows: FlowStore,
        users: UserStore,
        redirect_uri_for: Callable[[str], str],
        identity_marks: Callable[[str, str, str | None], list[str]] = lambda *_: [],
    ) -> None:
        self.connectors = dict(connectors)
        self.flows = flows
        self.users = users
        self.redirect_uri_for = redirect_uri_for
        self.identity_marks = identity_marks
        # Set by the consent service: keeps a grant's tokens, returns where to go next.
        self.on_grant: Callable[[str, str, Identity], str] | None = None

    def connector(self, provider: str) -> Connector:
        try:
            return self.connectors[provider]
        except KeyError:
            raise SignInError("unknown_provider", "No such sign-in provider.", 404) from None

    def start(
        self,
        provider: str,
        next_path: str | None,
        pending: list[str],
        link_uid: str | None = None,
        *,
        purpose: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> Started:
        """Start sign-in; with `link_uid`, link to that user; with `purpose`, also ask for
        `scopes` and hand the tokens to `on_grant` (the user must still be signed in)."""
        connector = self.connector(provider)
        state = secrets.token_urlsafe(32)
        try:
            request = connector.begin(self.redirect_uri_for(provider), state, scopes)
        except ConnectorError as error:
            raise _refusal(error) from error
        self.flows.put(
            state,
            {
                "provider": provider,
                "next": safe_next(next_path),
                "link_uid": link_uid,
                "purpose": purpose,
                "flow": request.flow,
                "started": time.time(),
            },
        )
        if link_uid:  # the record names the user, its parked answer carries their code
            self.flows.client.sadd(
                keys.user_index(link_uid), keys.flow(state), keys.flow_response(state)
            )
        pending = [*pending, keys.digest(state)][-MAX_PENDING_FLOWS:]
        return Started(url=request.url, pending=pending)

    def park_form_post(self, provider: str, params: Mapping[str, str]) -> str:
        """Keep a cross-site form_post callback for the same-site GET that follows it."""
        self.connector(provider)
        state = params.get("state") or ""
        if not state or not self.flows.park_response(state, dict(params)):
            raise SignInError(
                "invalid_state", "This sign-in link has expired or was already used.", 400
            )
        return state

    def finish(
        self,
        provider: str,
        params: Mapping[str, str],
        pending: list[str],
        current_uid: str | None,
    ) -> SignedIn:
        connector = self.connector(provider)
        state = params.get("state") or ""
        if not state:
            raise SignInError("missing_state", "The sign-in response lacks its state.", 400)
        state_hash = keys.digest(state)
        if state_hash not in pending:
            raise SignInError("invalid_state", "This sign-in was not started in this browser.", 400)
        pending = [h for h in pending if h != state_hash]
        record, parked = self.flows.take(state)
        if record is None:
            raise SignInError(
                "invalid_state", "This sign-in link has expired or was already used.", 400
            )
        if record.get("provider") != provider:
            raise SignInError(
                "invalid_state", "This sign-in response belongs to another provider.", 400
            )
        if connector.response_method == "POST":
            if parked is None:
                raise SignInError("invalid_state", "The sign-in response is missing.", 400)
            params = parked
        try:
            identity = connector.complete(self.redirect_uri_for(provider), record["flow"], params)
        except ConnectorError as error:
            raise _refusal(error) from error
        link_uid = record.get("link_uid")
        if link_uid and link_uid != current_uid:
            raise SignInError(
                "session_changed", "You signed out or in as someone else meanwhile.", 400
            )
        uid, linked = self._resolve_user(identity, link_uid, current_uid)
        next_path = safe_next(record.get("next"))
        purpose = record.get("purpose")
        if purpose and self.on_grant is not None:
            next_path = safe_next(self.on_grant(uid, str(purpose), identity))
        security_event("login", "success", actor=uid, subject=uid, provider=provider, linked=linked)
        marks = tuple(self.identity_marks(identity.provider, identity.subject, identity.email))
        return SignedIn(uid=uid, next_path=next_path, linked=linked, pending=pending, marks=marks)

    def _resolve_user(
        self, identity: Identity, link_uid: str | None, current_uid: str | None
    ) -> tuple[str, bool]:
        linked = LinkedIdentity(
            provider=identity.provider,
            subject=identity.subject,
            email=identity.email,
            name=identity.name,
            linked_at=time.time(),
        )
        owner = self.users.owner_of(identity.provider, identity.subject)
        if link_uid and link_uid == current_uid:
            if owner and owner != link_uid:
                raise SignInError(
                    "identity_taken",
                    "That account is already linked to another user of this service.",
                    409,
                )
            try:
                self.users.link(link_uid, linked)
            except IdentityTaken as error:
                raise SignInError("identity_taken", str(error), 409) from error
            return link_uid, owner is None
        if owner:
            self.users.refresh_identity(owner, linked)
            return owner, False
        return self.users.create_with_identity(linked), False


def _refusal(error: ConnectorError) -> SignInError:
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

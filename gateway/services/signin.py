"""Sign-in: start a flow, check the callback, find or create the user.

A pending flow lives in the browser, in a sealed flow cookie (gateway/crypto/sealed.py, at
most five flows, ten minutes each): starting a sign-in writes nothing to Redis, so anyone
may start as many as they like at no cost to anyone else.

The checks that protect the callback, in order: the `state` was issued to this browser (its
flow is in this browser's flow cookie), the flow has not expired, it was started for the
provider whose callback path this is (one callback path per provider), its state was not
claimed before (single use: storage/flows.py), and then the connector checks `iss`, redeems
the code with the PKCE verifier and validates the ID token. Only then is a user signed in.
A second provider is linked only when the flow was started from a signed-in session for
that same user; e-mail addresses never join accounts.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from connectors.base import Connector
from connectors.errors import ConnectorError
from connectors.values import Identity
from gateway import metrics
from gateway.crypto.sealed import SealedBox
from gateway.request_log import security_event
from gateway.services.signin_errors import SignInError, refusal
from gateway.services.signin_flows import PendingFlows
from gateway.storage import keys
from gateway.storage.audit import AuditTrail
from gateway.storage.flows import FlowStore
from gateway.storage.sessions import UserSessions
from gateway.storage.users import IdentityTaken, LinkedIdentity, UserStore

log = logging.getLogger(__name__)

# (uid, purpose, identity with tokens) -> where to go next: keeps a grant (the consent service)
GrantKeeper = Callable[[str, str, Identity], str]

DEFAULT_NEXT = "/account"
FORM_POST_TTL = 120  # from Microsoft's POST to the browser's GET that follows it: a redirect


@dataclass(frozen=True)
class Started:
    url: str
    pending: str  # the flow cookie's new value


@dataclass(frozen=True)
class SignedIn:
    uid: str
    next_path: str
    linked: bool
    pending: str | None  # the flow cookie's new value; None: no flow left, delete it
    # Keyed hashes of the identity just proved (Settings.identity_marks): the session keeps
    # them, and admin status is asked of the configuration on every request.
    marks: tuple[str, ...] = ()
    purpose: str = ""  # the consent this flow asked for, if any (the page says how it went)


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
        *,
        secret_key: str,
        secret_key_fallbacks: tuple[str, ...] = (),
        audit: AuditTrail,
        sessions: UserSessions,
        on_grant: GrantKeeper | None = None,
    ) -> None:
        self.connectors = dict(connectors)
        self.sessions = sessions
        self.audit = audit
        self.flows = flows
        self.pending_flows = PendingFlows(secret_key, secret_key_fallbacks, flows.ttl_seconds)
        self.form_posts = SealedBox(secret_key, "form_post response", secret_key_fallbacks)
        self.users = users
        self.redirect_uri_for = redirect_uri_for
        self.identity_marks = identity_marks
        # the consent service's: keeps a grant's tokens, returns where to go next
        self.on_grant = on_grant

    def sign_out_everywhere(self, uid: str, actor: str) -> int:
        """End every session of `uid` (an admin's decision: audited); how many ended."""
        ended = self.sessions.end_all(uid)
        self.audit.record(
            actor=actor, action="sessions.end", subject=uid, detail={"sessions": ended}
        )
        security_event("sessions.end", "success", actor=actor, subject=uid, sessions=ended)
        return ended

    def connector(self, provider: str) -> Connector:
        try:
            return self.connectors[provider]
        except KeyError:
            raise SignInError("unknown_provider", "No such sign-in provider.", 404) from None

    def start(
        self,
        provider: str,
        next_path: str | None,
        pending: str | None,
        link_uid: str | None = None,
        *,
        purpose: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> Started:
        """Start sign-in; with `link_uid`, link to that user; with `purpose`, also ask for
        `scopes` and hand the tokens to `on_grant` (the user must still be signed in).

        `pending` is the browser's flow cookie; `Started.pending` is its new value, this
        flow added. Nothing is stored."""
        connector = self.connector(provider)
        state = secrets.token_urlsafe(32)
        try:
            request = connector.begin(self.redirect_uri_for(provider), state, scopes)
        except ConnectorError as error:
            raise refusal(error) from error
        record = {
            "state": keys.digest(state),
            "provider": provider,
            "next": safe_next(next_path),
            "link_uid": link_uid,
            "purpose": purpose,
            "flow": request.flow,
            "started": time.time(),
        }
        return Started(url=request.url, pending=self.pending_flows.added(pending, record))

    def park_form_post(self, provider: str, params: Mapping[str, str]) -> str:
        """Seal a cross-site form_post callback for the same-site GET that follows it.

        The POST carries none of our SameSite=Lax cookies, so nothing can be checked here;
        the parameters (code, state, client_info) travel sealed in the redirect, readable
        for FORM_POST_TTL_SECONDS, and every check runs at the GET."""
        connector = self.connector(provider)
        if connector.response_method != "POST" or not params.get("state"):
            raise SignInError(
                "invalid_state", "This sign-in link has expired or was already used.", 400
            )
        return self.form_posts.seal({"provider": provider, "params": dict(params)}, FORM_POST_TTL)

    def finish(
        self,
        provider: str,
        params: Mapping[str, str],
        pending: str | None,
        current_uid: str | None,
    ) -> SignedIn:
        """`pending` is the browser's flow cookie; `SignedIn.pending`, its value without the
        flow just finished. A form_post answer arrives as `params["response"]`, sealed."""
        connector = self.connector(provider)
        sealed = "response" in params
        if sealed:
            opened = self.form_posts.open(params["response"])
            if not isinstance(opened, dict) or opened.get("provider") != provider:
                raise SignInError("invalid_state", "The sign-in response is missing.", 400)
            params = {k: str(v) for k, v in dict(opened.get("params") or {}).items()}
        state = params.get("state") or ""
        if not state:
            raise SignInError("missing_state", "The sign-in response lacks its state.", 400)
        state_hash = keys.digest(state)
        flows = self.pending_flows.open(pending)
        record = next((f for f in flows if f.get("state") == state_hash), None)
        if record is None:
            raise SignInError(
                "invalid_state",
                "This sign-in was not started in this browser, or it has expired.",
                400,
            )
        remaining = [f for f in flows if f is not record]
        if record.get("provider") != provider:
            raise SignInError(
                "invalid_state", "This sign-in response belongs to another provider.", 400
            )
        if connector.response_method == "POST" and not sealed:  # it posts, never redirects
            raise SignInError("invalid_state", "The sign-in response is missing.", 400)
        seconds_left = float(record["started"]) + self.flows.ttl_seconds - time.time()
        if not self.flows.claim(state, seconds_left):
            raise SignInError(
                "invalid_state", "This sign-in link has expired or was already used.", 400
            )
        started = time.monotonic()
        try:
            identity = connector.complete(self.redirect_uri_for(provider), record["flow"], params)
        except ConnectorError as error:
            metrics.provider_call(provider, "signin", error.code, time.monotonic() - started)
            raise refusal(error) from error
        metrics.provider_call(provider, "signin", "ok", time.monotonic() - started)
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
        return SignedIn(
            uid=uid,
            next_path=next_path,
            linked=linked,
            pending=self.pending_flows.seal(remaining) if remaining else None,
            marks=marks,
            purpose=str(purpose) if purpose else "",
        )

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
            if owner is None:  # a new way into the account: security-relevant
                self.audit.record(
                    actor=link_uid,
                    action="identity.link",
                    subject=link_uid,
                    detail={"provider": identity.provider},
                )
            return link_uid, owner is None
        if owner:
            self.users.refresh_identity(owner, linked)
            return owner, False
        # owner_of just said none (and moved any legacy name): not asked again (3 GETs)
        return self.users.create_with_identity(linked, asked=True), False

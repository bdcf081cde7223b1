"""The authorization-code flow every emulated provider shares (RFC 6749, RFC 7636, OIDC Core).

`AuthorizationServer` checks an authorization request, answers it from the authorize-next
queue or through the account page, issues single-use codes bound to client, redirect URI
and PKCE challenge, and redeems codes and refresh tokens. Subclasses (google.py,
microsoft.py, generic.py) state their issuer, scopes, error envelope and response fields.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import unquote, urlencode

from flask import Response, request

from emulator.faults import current_state
from emulator.pages import consent_page, error_page, form_post_page
from emulator.records import Account, AuthorizeAnswer, Client, Code, PendingAuthorization, Token
from emulator.signing import Signer
from emulator.state import EmulatorState

VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
PENDING_TTL = 600


class TokenError(Exception):
    """A token endpoint refusal; `kind` picks the provider's wording (see `token_error`)."""

    def __init__(self, error: str, kind: str, status: int = 400, **fill: str) -> None:
        super().__init__(error)
        self.error = error
        self.kind = kind
        self.status = status
        self.fill = fill


class AuthorizationServer:
    """One provider's OAuth 2.0 / OIDC behaviour. Subclasses set the class attributes and
    implement `issuer`, `id_token_claims`, `token_error` and `decision_url`."""

    name: str  # account kind and endpoint prefix: google | microsoft | oidc
    title: str
    SIGN_IN_SCOPES: frozenset[str] = frozenset({"openid", "email", "profile"})
    ISS_PARAMETER = False  # RFC 9207 `iss` on the redirect
    GRANULAR_CONSENT = False  # extra scopes can be unticked on the page
    ROTATES_REFRESH_TOKENS = False
    ACCESS_TOKEN_PREFIX = "at."
    REFRESH_TOKEN_PREFIX = "rt."
    CODE_PREFIX = "code."

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    # -- hooks -------------------------------------------------------------------------------
    @property
    def state(self) -> EmulatorState:
        return current_state()

    def issuer(self, account: Account | None = None) -> str:
        raise NotImplementedError

    def decision_url(self, tenant: str | None) -> str:
        raise NotImplementedError

    def id_token_claims(
        self, account: Account, client_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def token_error(self, error: TokenError) -> Response:
        raise NotImplementedError

    def normalize_scope(self, scope: str) -> str:
        return scope

    def scope_string(self, scopes: tuple[str, ...]) -> str:
        return " ".join(scopes)

    def eligible_accounts(self, tenant: str | None) -> list[Account]:
        return self.state.provider_accounts(self.name)

    def wants_refresh_token(
        self, params: dict[str, str], scopes: tuple[str, ...], key: str, client_id: str
    ) -> bool:
        return "offline_access" in scopes

    def granted_scopes(
        self,
        requested: tuple[str, ...],
        previous: tuple[str, ...],
        params: dict[str, str],
        chosen: tuple[str, ...],
    ) -> tuple[str, ...]:
        return chosen

    def callback_extras(self, account: Account, params: dict[str, str]) -> dict[str, str]:
        return {}

    def token_extras(self, account: Account) -> dict[str, Any]:
        return {}

    # -- authorization endpoint ----------------------------------------------------------
    def authorize(self, params: dict[str, str], tenant: str | None = None) -> Response:
        with self.state.lock:
            self.state.authorizations.append(
                {"provider": self.name, "tenant": tenant, "params": dict(params)}
            )
        client = self.state.clients.get(params.get("client_id", ""))
        if client is None:
            return error_page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return error_page(
                400,
                "redirect_uri_mismatch",
                "The redirect URI in the request does not match the ones registered for the "
                "client.",
            )
        mode = params.get("response_mode") or "query"
        if mode not in ("query", "form_post"):
            params = {**params, "response_mode": "query"}
            return self.deny(params, "invalid_request", "Unsupported response_mode.")
        if params.get("response_type") != "code":
            return self.deny(params, "unsupported_response_type", "Only response_type=code.")
        scopes = self.requested_scopes(params)
        if "openid" not in scopes:
            return self.deny(params, "invalid_scope", "The scope must include openid.")
        problem = pkce_problem(params)
        if problem:
            return self.deny(params, "invalid_request", problem)

        self.state.purge_expired()
        with self.state.lock:
            answer = self.state.authorize_queue.popleft() if self.state.authorize_queue else None
        if answer is not None:
            return self.answer(params, tenant, answer)
        if "none" in params.get("prompt", "").split():
            return self.deny(params, "login_required", "No session at the emulator.")
        pending = PendingAuthorization(
            request_id=secrets.token_urlsafe(24),
            provider=self.name,
            params=params,
            tenant=tenant,
            expires_at=time.time() + PENDING_TTL,
        )
        with self.state.lock:
            self.state.pending[pending.request_id] = pending
        return self.page(pending, client)

    def page(
        self, pending: PendingAuthorization, client: Client, message: str | None = None
    ) -> Response:
        requested = self.requested_scopes(pending.params)
        return consent_page(
            provider_title=self.title,
            action=self.decision_url(pending.tenant),
            request_id=pending.request_id,
            client_id=client.client_id,
            accounts=self.eligible_accounts(pending.tenant),
            scopes=[s for s in requested if s not in self.SIGN_IN_SCOPES],
            granular=self.GRANULAR_CONSENT,
            login_hint=pending.params.get("login_hint"),
            message=message,
        )

    def decision(self, form: dict[str, Any]) -> Response:
        """The account page's POST: the person chose an account (and scopes) or cancelled."""
        with self.state.lock:
            pending = self.state.pending.get(str(form.get("request_id", "")))
        if pending is None or pending.provider != self.name or pending.expires_at < time.time():
            return error_page(400, "invalid_request", "This sign-in request has expired.")
        client = self.state.clients.get(pending.params.get("client_id", ""))
        if client is None:
            return error_page(401, "invalid_client", "The OAuth client was not found.")
        if form.get("decision") == "deny":
            with self.state.lock:
                self.state.pending.pop(pending.request_id, None)
            return self.deny(pending.params, "access_denied", "The user cancelled.", status=303)
        email = str(form.get("account", "")).lower()
        if email not in {a.email for a in self.eligible_accounts(pending.tenant)}:
            return self.page(pending, client, message="Choose an account to continue.")
        with self.state.lock:
            self.state.pending.pop(pending.request_id, None)
        requested = self.requested_scopes(pending.params)
        ticked = set(form.get("scope", ()))
        chosen = tuple(
            s
            for s in requested
            if s in self.SIGN_IN_SCOPES or not self.GRANULAR_CONSENT or s in ticked
        )
        return self.complete(pending.params, pending.tenant, email, chosen, status=303)

    def answer(
        self, params: dict[str, str], tenant: str | None, answer: AuthorizeAnswer
    ) -> Response:
        """Complete at once with a queued answer from POST /_emulator/authorize-next."""
        if answer.deny:
            return self.deny(params, "access_denied", "The user cancelled.")
        if answer.account.lower() not in {a.email for a in self.eligible_accounts(tenant)}:
            return error_page(
                400,
                "account_not_available",
                f"The queued account {answer.account} cannot sign in here "
                f"({self.title}{' tenant ' + tenant if tenant else ''}).",
            )
        requested = self.requested_scopes(params)
        if answer.grant == "all":
            chosen = requested
        else:
            allowed = {self.normalize_scope(s) for s in answer.grant} | self.SIGN_IN_SCOPES
            chosen = tuple(s for s in requested if s in allowed)
        return self.complete(params, tenant, answer.account.lower(), chosen)

    def complete(
        self,
        params: dict[str, str],
        tenant: str | None,
        email: str,
        chosen: tuple[str, ...],
        status: int = 302,
    ) -> Response:
        account = self.state.account(self.name, email)
        assert account is not None  # eligible_accounts checked it
        client_id = params["client_id"]
        with self.state.lock:
            grant_key = (account.key, client_id)
            previous = self.state.grants.get(grant_key, ())
            scopes = self.granted_scopes(self.requested_scopes(params), previous, params, chosen)
            self.state.grants[grant_key] = tuple(dict.fromkeys(previous + scopes))
            method = params.get("code_challenge_method") or (
                "plain" if params.get("code_challenge") else None
            )
            code = Code(
                value=self.CODE_PREFIX + secrets.token_urlsafe(32),
                provider=self.name,
                client_id=client_id,
                redirect_uri=params["redirect_uri"],
                account_key=account.key,
                scopes=scopes,
                nonce=params.get("nonce"),
                challenge=params.get("code_challenge"),
                challenge_method=method,
                refresh=self.wants_refresh_token(params, scopes, account.key, client_id),
                expires_at=time.time() + self.state.settings.code_ttl,
            )
            self.state.codes[code.value] = code
        fields = {"code": code.value, "state": params.get("state")}
        fields.update(self.redirect_scope(scopes))
        fields.update(self.callback_extras(account, params))
        return self.send_back(params, fields, status)

    def redirect_scope(self, scopes: tuple[str, ...]) -> dict[str, str]:
        return {}

    def deny(
        self, params: dict[str, str], error: str, description: str, status: int = 302
    ) -> Response:
        fields = {"error": error, "error_description": description, "state": params.get("state")}
        return self.send_back(params, fields, status)

    def send_back(
        self, params: dict[str, str], fields: dict[str, str | None], status: int
    ) -> Response:
        """Redirect (query) or auto-submit (form_post) the answer to the client."""
        if self.ISS_PARAMETER:
            fields["iss"] = self.issuer()
        clean = {k: v for k, v in fields.items() if v is not None}
        redirect_uri = params["redirect_uri"]
        if params.get("response_mode") == "form_post":
            return form_post_page(redirect_uri, clean)
        separator = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + separator + urlencode(clean)
        return Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})

    def requested_scopes(self, params: dict[str, str]) -> tuple[str, ...]:
        raw = params.get("scope", "").split()
        return tuple(dict.fromkeys(self.normalize_scope(s) for s in raw))

    # -- token endpoint ------------------------------------------------------------------
    def token(self) -> Response:
        form = request.form.to_dict()
        try:
            client = self.authenticate_client(form)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                body = self.redeem_code(client, form)
            elif grant_type == "refresh_token":
                body = self.redeem_refresh_token(client, form)
            elif not grant_type:
                raise TokenError("invalid_request", "invalid_request", param="grant_type")
            else:
                raise TokenError("unsupported_grant_type", "unsupported_grant_type")
        except TokenError as error:
            return self.token_error(error)
        response = Response(_json(body), mimetype="application/json")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    def authenticate_client(self, form: dict[str, str]) -> Client:
        """client_secret_basic or client_secret_post (RFC 6749 §2.3.1)."""
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            client_id = unquote(auth.username or "")
            secret = unquote(auth.password or "")
            if form.get("client_id") not in (None, client_id):
                raise TokenError("invalid_request", "invalid_request", param="client_id")
        else:
            client_id = form.get("client_id", "")
            secret = form.get("client_secret", "")
        client = self.state.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            raise TokenError("invalid_client", "invalid_client", status=401)
        return client

    def redeem_code(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        value = form.get("code")
        if not value:
            raise TokenError("invalid_request", "invalid_request", param="code")
        with self.state.lock:
            code = self.state.codes.get(value)
            if code is None or code.provider != self.name or code.expires_at < time.time():
                raise TokenError("invalid_grant", "invalid_grant")
            if code.used:
                # RFC 6749 §4.1.2: a replayed code revokes what it already bought.
                self.state.revoke_code_descendants(code.value)
                raise TokenError("invalid_grant", "code_redeemed")
            if code.client_id != client.client_id:
                raise TokenError("invalid_grant", "invalid_grant")
            if form.get("redirect_uri") != code.redirect_uri:
                raise TokenError("invalid_grant", "redirect_uri")
            verified = pkce_verified(code, form.get("code_verifier"))
            code.used = True
            if not verified:
                raise TokenError("invalid_grant", "pkce")
            account = self.state.accounts.get(code.account_key)
            if account is None:
                raise TokenError("invalid_grant", "invalid_grant")
            return self.issue(
                client, account, code.scopes, code.value, code.nonce, with_refresh=code.refresh
            )

    def redeem_refresh_token(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        value = form.get("refresh_token")
        if not value:
            raise TokenError("invalid_request", "invalid_request", param="refresh_token")
        with self.state.lock:
            old = self.state.live_token(value, "refresh")
            if old is None or old.provider != self.name or old.client_id != client.client_id:
                raise TokenError("invalid_grant", "revoked")
            granted = self.state.grants.get((old.account_key, client.client_id))
            account = self.state.accounts.get(old.account_key)
            if granted is None or account is None:
                raise TokenError("invalid_grant", "revoked")
            scopes = tuple(s for s in old.scopes if s in granted)
            if form.get("scope"):
                wanted = self.requested_scopes({"scope": form["scope"]})
                scopes = self.refresh_scopes(wanted, scopes, client)
            body = self.issue(
                client,
                account,
                scopes,
                old.code,
                None,
                with_refresh=self.ROTATES_REFRESH_TOKENS,
            )
            if not self.ROTATES_REFRESH_TOKENS:
                body.pop("refresh_token", None)
            return body

    def refresh_scopes(
        self, wanted: tuple[str, ...], granted: tuple[str, ...], client: Client
    ) -> tuple[str, ...]:
        """A refresh may narrow the scopes, never widen them."""
        if not set(wanted) <= set(granted):
            raise TokenError("invalid_scope", "invalid_scope")
        return wanted

    def issue(
        self,
        client: Client,
        account: Account,
        scopes: tuple[str, ...],
        code: str,
        nonce: str | None,
        *,
        with_refresh: bool,
    ) -> dict[str, Any]:
        """Mint an access token (and refresh and ID tokens) and return the response body."""
        settings = self.state.settings
        now = time.time()
        access = Token(
            value=self.ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32),
            kind="access",
            provider=self.name,
            client_id=client.client_id,
            account_key=account.key,
            scopes=scopes,
            code=code,
            expires_at=now + settings.access_token_ttl,
        )
        self.state.tokens[access.value] = access
        body: dict[str, Any] = {
            "access_token": access.value,
            "expires_in": settings.access_token_ttl,
            "scope": self.scope_string(scopes),
            "token_type": "Bearer",
        }
        if with_refresh:
            refresh = Token(
                value=self.REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(48),
                kind="refresh",
                provider=self.name,
                client_id=client.client_id,
                account_key=account.key,
                scopes=scopes,
                code=code,
            )
            self.state.tokens[refresh.value] = refresh
            body["refresh_token"] = refresh.value
        if "openid" in scopes:
            claims = self.id_token_claims(account, client.client_id, scopes)
            claims["iat"] = int(now)
            claims["exp"] = int(now) + 3600
            if nonce is not None:
                claims["nonce"] = nonce
            claims = self.finish_claims(claims, access.value)
            body["id_token"] = self.signer.id_token(self.name, claims, self.state.next_tamper())
        body.update(self.token_extras(account))
        return body

    def finish_claims(self, claims: dict[str, Any], access_token: str) -> dict[str, Any]:
        return claims

    # -- resource side -------------------------------------------------------------------
    def bearer(self) -> Token | None:
        """The live access token of this provider in the Authorization header, if any."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return None
        token = self.state.live_token(value.strip(), "access")
        if token is None or token.provider != self.name:
            return None
        return token


def pkce_problem(params: dict[str, str]) -> str | None:
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        return "code_challenge_method without code_challenge" if method else None
    if (method or "plain") not in ("plain", "S256"):
        return "Unsupported code_challenge_method."
    if not VERIFIER.match(challenge):
        return "Invalid code_challenge."
    return None


def pkce_verified(code: Code, verifier: str | None) -> bool:
    """RFC 7636 §4.6, and RFC 9700: a verifier without a challenge is a downgrade."""
    if code.challenge is None:
        return verifier is None
    if verifier is None or not VERIFIER.match(verifier):
        return False
    if code.challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        computed = verifier
    return hmac.compare_digest(computed, code.challenge)


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body)


def request_params() -> dict[str, str]:
    """Query parameters (GET) or form fields (POST) as a plain dict of first values."""
    source = request.form if request.method == "POST" else request.args
    return {k: v for k, v in source.items()}

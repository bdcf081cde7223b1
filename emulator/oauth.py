"""The authorization-code flow every emulated provider shares (RFC 6749, RFC 7636, OIDC Core).

`AuthorizationServer` checks an authorization request, answers it from the authorize-next
queue or through the account page, issues single-use codes bound to client, redirect URI
and PKCE challenge; redeeming codes and refresh tokens is `TokenEndpoint`'s (oauth_token.py),
the provider hooks are `ProviderHooks`' (oauth_provider.py). Subclasses (google.py,
microsoft.py, generic.py) state their issuer, scopes, error envelope and response fields.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import Response, request

from emulator.oauth_token import TokenEndpoint, pkce_problem
from emulator.pages import consent_page, error_page, form_post_page
from emulator.records import AuthorizeAnswer, Client, Code, PendingAuthorization

PENDING_TTL = 600


class AuthorizationServer(TokenEndpoint):
    """One provider's OAuth 2.0 / OIDC behaviour: the authorization endpoint here, the token
    endpoint inherited. Subclasses set the class attributes and implement `issuer`,
    `id_token_claims`, `token_error` and `decision_url` (oauth_provider.ProviderHooks)."""

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


def request_params() -> dict[str, str]:
    """Query parameters (GET) or form fields (POST) as a plain dict of first values."""
    source = request.form if request.method == "POST" else request.args
    return {k: v for k, v in source.items()}

"""The token endpoint every emulated provider shares (RFC 6749 §3.2, §6, RFC 7636, OIDC).

Authenticates the client, redeems single-use codes (bound to client, redirect URI and PKCE
challenge) and refresh tokens, issues access, refresh and ID tokens, and reads the bearer
token a resource request carries. Kept apart from oauth.py (the authorization endpoint).
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
from urllib.parse import unquote

from flask import Response, request

from emulator.oauth_provider import ProviderHooks, TokenError
from emulator.records import Account, Client, Code, Token

VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class TokenEndpoint(ProviderHooks):
    """The token side of one provider's OAuth 2.0 / OIDC behaviour."""

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

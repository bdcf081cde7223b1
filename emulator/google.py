"""Google's sign-in side: discovery, authorize, token, userinfo, JWKS, revoke (PROTOCOLS.md §1).

Google specifics: granular consent (extra scopes can be unticked), `include_granted_scopes`
unions earlier grants, a refresh token only with `access_type=offline` (the first time, or
again with `prompt=consent`), no refresh-token rotation, the RFC 9207 `iss` on the redirect,
and a revoke endpoint that kills the whole grant and answers 400 for unknown tokens.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.errors import oauth_error
from emulator.faults import endpoint
from emulator.oauth import AuthorizationServer, request_params
from emulator.oauth_provider import TokenError
from emulator.records import Account
from emulator.signing import Signer, at_hash

GOOGLE_ISSUER = "https://accounts.google.com"
USERINFO_SCOPES = {
    "https://www.googleapis.com/auth/userinfo.email": "email",
    "https://www.googleapis.com/auth/userinfo.profile": "profile",
}
EXPANDED = {short: full for full, short in USERINFO_SCOPES.items()}

TOKEN_ERRORS = {
    "invalid_grant": "Bad Request",
    "code_redeemed": "Bad Request",
    "pkce": "Bad Request",
    "redirect_uri": "Bad Request",
    "revoked": "Token has been expired or revoked.",
    "invalid_client": "Unauthorized",
    "invalid_request": "Missing required parameter: {param}",
    "unsupported_grant_type": "Invalid grant_type.",
    "invalid_scope": "Bad Request",
}


class GoogleServer(AuthorizationServer):
    name = "google"
    title = "Google"
    ISS_PARAMETER = True
    GRANULAR_CONSENT = True
    ACCESS_TOKEN_PREFIX = "ya29.emu-"
    REFRESH_TOKEN_PREFIX = "1//emu-"
    CODE_PREFIX = "4/emu-"

    def issuer(self, account: Account | None = None) -> str:
        return self.state.settings.google_issuer or self.state.base_url

    def decision_url(self, tenant: str | None) -> str:
        return f"{self.state.base_url}/o/oauth2/v2/auth/decision"

    def normalize_scope(self, scope: str) -> str:
        return USERINFO_SCOPES.get(scope, scope)

    def scope_string(self, scopes: tuple[str, ...]) -> str:
        """Google answers `email`/`profile` in their long form [observed]."""
        return " ".join(EXPANDED.get(s, s) for s in scopes)

    def redirect_scope(self, scopes: tuple[str, ...]) -> dict[str, str]:
        return {"scope": self.scope_string(scopes), "authuser": "0"}

    def callback_extras(self, account: Account, params: dict[str, str]) -> dict[str, str]:
        return {"hd": account.hd} if account.hd else {}

    def granted_scopes(
        self,
        requested: tuple[str, ...],
        previous: tuple[str, ...],
        params: dict[str, str],
        chosen: tuple[str, ...],
    ) -> tuple[str, ...]:
        if params.get("include_granted_scopes") == "true":
            return tuple(dict.fromkeys(chosen + previous))
        return chosen

    def wants_refresh_token(
        self, params: dict[str, str], scopes: tuple[str, ...], key: str, client_id: str
    ) -> bool:
        """Offline access gives a refresh token the first time, or again after a consent screen."""
        if params.get("access_type") != "offline":
            return False
        if "consent" in params.get("prompt", "").split():
            return True
        with self.state.lock:
            return not any(
                t.kind == "refresh"
                and t.account_key == key
                and t.client_id == client_id
                and not t.revoked
                for t in self.state.tokens.values()
            )

    def id_token_claims(
        self, account: Account, client_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.issuer(),
            "azp": client_id,
            "aud": client_id,
            "sub": account.subject,
        }
        if account.hd:
            claims["hd"] = account.hd
        if "email" in scopes:
            claims.update(email=account.email, email_verified=True)
        if "profile" in scopes:
            given, _, family = account.name.partition(" ")
            claims.update(name=account.name, given_name=given, family_name=family or given)
        return claims

    def finish_claims(self, claims: dict[str, Any], access_token: str) -> dict[str, Any]:
        claims["at_hash"] = at_hash(access_token)
        return claims

    def token_error(self, error: TokenError) -> Response:
        error_name = "redirect_uri_mismatch" if error.kind == "redirect_uri" else error.error
        text = TOKEN_ERRORS.get(error.kind, "Bad Request").format(**error.fill)
        return oauth_error(error_name, text, error.status)

    def discovery(self) -> dict[str, Any]:
        base = self.state.base_url
        return {
            "issuer": self.issuer(),
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": [
                "code",
                "token",
                "id_token",
                "code token",
                "code id_token",
                "token id_token",
                "code token id_token",
                "none",
            ],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "authorization_response_iss_parameter_supported": True,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "aud",
                "email",
                "email_verified",
                "exp",
                "family_name",
                "given_name",
                "iat",
                "iss",
                "name",
                "sub",
            ],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }

    def userinfo(self) -> Response:
        token = self.bearer()
        if token is None:
            response = oauth_error("invalid_request", "Invalid Credentials", 401)
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        account = self.state.accounts.get(token.account_key)
        if account is None:
            return oauth_error("invalid_request", "Invalid Credentials", 401)
        claims = self.id_token_claims(account, token.client_id, token.scopes)
        body = {k: v for k, v in claims.items() if k not in ("iss", "aud", "azp")}
        return jsonify(body)

    def revoke(self) -> Response:
        """Google's revoke: token in query or form, no client auth, 400 for an unknown token."""
        value = request.values.get("token", "")
        with self.state.lock:
            token = self.state.tokens.get(value)
            if token is None or token.provider != self.name or not token.live(time.time()):
                return oauth_error("invalid_token", "Token expired or revoked")
            self.state.revoke_family(token.account_key, token.client_id)
        return jsonify({})


def create_blueprint(signer: Signer) -> Blueprint:
    server = GoogleServer(signer)
    bp = Blueprint("google", __name__)

    @bp.get("/.well-known/openid-configuration")
    @endpoint("google.discovery")
    def discovery() -> Any:
        return jsonify(server.discovery())

    @bp.get("/o/oauth2/v2/auth")
    @endpoint("google.authorize")
    def authorize() -> Any:
        return server.authorize(request_params())

    @bp.post("/o/oauth2/v2/auth/decision")
    def decision() -> Any:
        return server.decision({**request.form.to_dict(), "scope": request.form.getlist("scope")})

    @bp.post("/token")
    @endpoint("google.token")
    def token() -> Any:
        return server.token()

    @bp.route("/v1/userinfo", methods=["GET", "POST"])
    @endpoint("google.userinfo")
    def userinfo() -> Any:
        return server.userinfo()

    @bp.get("/oauth2/v3/certs")
    @endpoint("google.jwks")
    def jwks() -> Any:
        return jsonify(signer.jwks("google"))

    @bp.post("/revoke")
    @endpoint("google.revoke")
    def revoke() -> Any:
        return server.revoke()

    return bp

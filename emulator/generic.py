"""A plain OpenID Connect provider under /generic, for the gateway's "any OIDC provider" path.

Deliberately different from Google where the standard allows it: the redirect carries no
`iss` and discovery does not advertise RFC 9207, so the client's fallback path is exercised.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.errors import oauth_error
from emulator.faults import endpoint
from emulator.oauth import AuthorizationServer, request_params
from emulator.oauth_provider import TokenError
from emulator.records import Account
from emulator.signing import Signer, at_hash

PREFIX = "/generic"
TOKEN_ERRORS = {
    "invalid_grant": "The authorization code is invalid or expired.",
    "code_redeemed": "The authorization code has already been used.",
    "pkce": "The code_verifier does not match the code_challenge.",
    "redirect_uri": "The redirect_uri does not match the authorization request.",
    "revoked": "The refresh token is invalid, expired or revoked.",
    "invalid_client": "Client authentication failed.",
    "invalid_request": "Missing parameter: {param}",
    "unsupported_grant_type": "Unsupported grant_type.",
    "invalid_scope": "The requested scope exceeds the granted scope.",
}


class GenericServer(AuthorizationServer):
    name = "oidc"
    title = "Emulated OpenID Connect"
    SIGN_IN_SCOPES = frozenset({"openid", "email", "profile", "offline_access"})
    ACCESS_TOKEN_PREFIX = "oidc-at."
    REFRESH_TOKEN_PREFIX = "oidc-rt."
    CODE_PREFIX = "oidc-code."

    def issuer(self, account: Account | None = None) -> str:
        # A test may name another spelling, e.g. with the trailing slash Auth0 uses.
        return self.state.settings.generic_issuer or self.state.base_url + PREFIX

    def decision_url(self, tenant: str | None) -> str:
        return f"{self.state.base_url}{PREFIX}/authorize/decision"

    def id_token_claims(
        self, account: Account, client_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {"iss": self.issuer(), "aud": client_id, "sub": account.subject}
        if "email" in scopes:
            claims.update(email=account.email, email_verified=True)
        if "profile" in scopes:
            claims["name"] = account.name
        return claims

    def finish_claims(self, claims: dict[str, Any], access_token: str) -> dict[str, Any]:
        claims["at_hash"] = at_hash(access_token)
        return claims

    def token_error(self, error: TokenError) -> Response:
        text = TOKEN_ERRORS.get(error.kind, "Bad request.").format(**error.fill)
        return oauth_error(error.error, text, error.status)

    def discovery(self) -> dict[str, Any]:
        base = self.state.base_url + PREFIX
        return {
            "issuer": self.issuer(),
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "offline_access"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "email",
                "email_verified",
                "name",
            ],
            "code_challenge_methods_supported": ["plain", "S256"],
        }

    def userinfo(self) -> Response:
        token = self.bearer()
        account = self.state.accounts.get(token.account_key) if token else None
        if token is None or account is None:
            response = oauth_error("invalid_token", "The access token is invalid.", 401)
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        claims = self.id_token_claims(account, token.client_id, token.scopes)
        return jsonify({k: v for k, v in claims.items() if k not in ("iss", "aud")})


def create_blueprint(signer: Signer) -> Blueprint:
    server = GenericServer(signer)
    bp = Blueprint("generic", __name__, url_prefix=PREFIX)

    @bp.get("/.well-known/openid-configuration")
    @endpoint("oidc.discovery")
    def discovery() -> Any:
        return jsonify(server.discovery())

    @bp.route("/authorize", methods=["GET", "POST"])
    @endpoint("oidc.authorize")
    def authorize() -> Any:
        return server.authorize(request_params())

    @bp.post("/authorize/decision")
    def decision() -> Any:
        return server.decision(request.form.to_dict())

    @bp.post("/token")
    @endpoint("oidc.token")
    def token() -> Any:
        return server.token()

    @bp.get("/jwks")
    @endpoint("oidc.jwks")
    def jwks() -> Any:
        return jsonify(signer.jwks("oidc"))

    @bp.route("/userinfo", methods=["GET", "POST"])
    @endpoint("oidc.userinfo")
    def userinfo() -> Any:
        return server.userinfo()

    return bp

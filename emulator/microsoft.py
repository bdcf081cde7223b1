"""Microsoft identity platform v2 for any tenant: what MSAL 1.39 talks to (PROTOCOLS.md §2, §5.2).

Paths carry the tenant (`common`, `organizations`, `consumers` or a tenant GUID). The issuer
is per tenant (`{url}/{tid}/v2.0`; the `{tenantid}` template for the multi-tenant
authorities), answers carry `client_info`, every refresh returns a new refresh token, and
errors come in the AADSTS envelope.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.errors import aad_error, graph_error
from emulator.faults import endpoint
from emulator.oauth import AuthorizationServer, request_params
from emulator.oauth_provider import TokenError
from emulator.pages import error_page
from emulator.records import CONSUMER_TENANT, Account, Client
from emulator.signing import Signer, b64url_json

GRAPH_PREFIX = "https://graph.microsoft.com/"
MULTI_TENANT = ("common", "organizations", "consumers")


class MicrosoftServer(AuthorizationServer):
    name = "microsoft"
    title = "Microsoft"
    SIGN_IN_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
    ROTATES_REFRESH_TOKENS = True
    ACCESS_TOKEN_PREFIX = "EwA-emu."
    REFRESH_TOKEN_PREFIX = "0.A-emu."
    CODE_PREFIX = "1.A-emu."

    def known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in MULTI_TENANT or tenant.lower() in self.state.tenants()

    def issuer(self, account: Account | None = None) -> str:
        tid = account.tenant if account is not None else "{tenantid}"
        return f"{self.state.base_url}/{tid}/v2.0"

    def decision_url(self, tenant: str | None) -> str:
        return f"{self.state.base_url}/{tenant}/oauth2/v2.0/authorize/decision"

    def eligible_accounts(self, tenant: str | None) -> list[Account]:
        accounts = self.state.provider_accounts(self.name)
        tenant = (tenant or "common").lower()
        if tenant == "common":
            return accounts
        if tenant == "organizations":
            return [a for a in accounts if a.tenant != CONSUMER_TENANT]
        if tenant == "consumers":
            return [a for a in accounts if a.tenant == CONSUMER_TENANT]
        return [a for a in accounts if a.tenant == tenant]

    def normalize_scope(self, scope: str) -> str:
        return scope.removeprefix(GRAPH_PREFIX)

    def scope_string(self, scopes: tuple[str, ...]) -> str:
        """Graph scopes in short form; `offline_access` is not echoed [observed]."""
        return " ".join(s for s in scopes if s != "offline_access")

    def callback_extras(self, account: Account, params: dict[str, str]) -> dict[str, str]:
        return {
            "client_info": client_info(account),
            "session_state": str(uuid.uuid5(uuid.NAMESPACE_URL, account.key)),
        }

    def token_extras(self, account: Account) -> dict[str, Any]:
        return {
            "ext_expires_in": self.state.settings.access_token_ttl,
            "client_info": client_info(account),
        }

    def refresh_scopes(
        self, wanted: tuple[str, ...], granted: tuple[str, ...], client: Client
    ) -> tuple[str, ...]:
        resource = [s for s in wanted if s not in self.SIGN_IN_SCOPES]
        if not set(resource) <= set(granted):
            raise TokenError("invalid_grant", "consent", client_id=client.client_id)
        return tuple(s for s in granted if s in self.SIGN_IN_SCOPES or s in resource)

    def deny(
        self, params: dict[str, str], error: str, description: str, status: int = 302
    ) -> Response:
        if error == "access_denied":
            description = "AADSTS65004: User declined to consent to access the app."
        return super().deny(params, error, description, status)

    def id_token_claims(
        self, account: Account, client_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "ver": "2.0",
            "iss": self.issuer(account),
            "sub": pairwise_subject(account, client_id),
            "aud": client_id,
            "oid": account.subject,
            "tid": account.tenant,
            "preferred_username": account.email,
            "name": account.name,
        }
        if "email" in scopes:
            claims["email"] = account.email
        return claims

    def finish_claims(self, claims: dict[str, Any], access_token: str) -> dict[str, Any]:
        claims["nbf"] = claims["iat"]
        return claims

    def token_error(self, error: TokenError) -> Response:
        return aad_error(error.error, error.kind, error.status, **error.fill)

    def discovery(self, tenant: str) -> dict[str, Any]:
        base = self.state.base_url
        if tenant.lower() == "consumers":
            issuer = f"{base}/{CONSUMER_TENANT}/v2.0"
        elif tenant.lower() in MULTI_TENANT:
            issuer = f"{base}/{{tenantid}}/v2.0"
        else:
            issuer = f"{base}/{tenant}/v2.0"
        return {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    def userinfo(self) -> Response:
        token = self.bearer()
        account = self.state.accounts.get(token.account_key) if token else None
        if token is None or account is None:
            return graph_error(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            )
        given, _, family = account.name.partition(" ")
        body = {
            "sub": pairwise_subject(account, token.client_id),
            "name": account.name,
            "given_name": given,
            "family_name": family or given,
        }
        if "email" in token.scopes:
            body["email"] = account.email
        return jsonify(body)


def client_info(account: Account) -> str:
    """base64url JSON {uid, utid}: MSAL's home_account_id is `uid.utid`."""
    return b64url_json({"uid": account.subject, "utid": account.tenant})


def pairwise_subject(account: Account, client_id: str) -> str:
    """Microsoft's `sub` differs per application; `oid` is the stable key."""
    digest = hashlib.sha256(f"{account.subject}:{client_id}".encode()).hexdigest()
    return digest[:43]


def unknown_tenant(tenant: str) -> Response:
    return aad_error("invalid_tenant", "invalid_tenant", 400, tenant=tenant)


def create_blueprint(signer: Signer) -> Blueprint:
    server = MicrosoftServer(signer)
    bp = Blueprint("microsoft", __name__)

    def known(tenant: str) -> bool:
        return server.known_tenant(tenant)

    @bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
    @endpoint("microsoft.discovery")
    def discovery(tenant: str) -> Any:
        if not known(tenant):
            return unknown_tenant(tenant)
        return jsonify(server.discovery(tenant))

    @bp.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
    @endpoint("microsoft.authorize")
    def authorize(tenant: str) -> Any:
        if not known(tenant):
            return error_page(400, "invalid_tenant", f"Tenant '{tenant}' not found.")
        return server.authorize(request_params(), tenant=tenant.lower())

    @bp.post("/<tenant>/oauth2/v2.0/authorize/decision")
    def decision(tenant: str) -> Any:
        return server.decision(request.form.to_dict())

    @bp.post("/<tenant>/oauth2/v2.0/token")
    @endpoint("microsoft.token")
    def token(tenant: str) -> Any:
        if not known(tenant):
            return unknown_tenant(tenant)
        return server.token()

    @bp.get("/<tenant>/discovery/v2.0/keys")
    @endpoint("microsoft.jwks")
    def jwks(tenant: str) -> Any:
        if not known(tenant):
            return unknown_tenant(tenant)
        return jsonify(signer.jwks("microsoft"))

    @bp.route("/oidc/userinfo", methods=["GET", "POST"])
    @endpoint("microsoft.userinfo")
    def userinfo() -> Any:
        return server.userinfo()

    return bp

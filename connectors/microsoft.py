"""Microsoft identity platform v2 through MSAL's ConfidentialClientApplication.

MSAL checks `state` and the nonce hash but no longer validates ID tokens (1.38+), so the
signature, audience, expiry, issuer and tenant are checked here. The issuer is per tenant
(`{authority}/{tid}/v2.0`) and the tenant must be on the configured allow-list.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

import msal
import requests

from connectors.base import AuthRequest, Connector, Identity
from connectors.errors import (
    AuthorizationDenied,
    CallbackRejected,
    ProviderUnavailable,
    TenantNotAllowed,
    TokenExchangeFailed,
)
from connectors.http import ProviderSession, get_json
from connectors.id_token import JwksCache, validate_id_token
from connectors.oidc import _safe_code

MICROSOFT_AUTHORITY_BASE = "https://login.microsoftonline.com"
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
# The flow keys MSAL needs back at the callback; `auth_uri` is not among them.
FLOW_KEYS = ("state", "redirect_uri", "scope", "code_verifier", "nonce", "claims_challenge")


class MicrosoftConnector(Connector):
    """Work, school and (if allowed) personal Microsoft accounts; callback by form_post."""

    response_method = "POST"
    SIGN_IN_SCOPES = ("email",)  # MSAL adds openid, profile and offline_access itself

    def __init__(
        self,
        name: str = "microsoft",
        *,
        client_id: str,
        client_secret: str,
        tenant: str,
        allowed_tenants: frozenset[str],
        authority_base: str = MICROSOFT_AUTHORITY_BASE,
        ca_bundle: str | None = None,
    ) -> None:
        self.name = name
        self.title = "Microsoft"
        self.client_id = client_id
        self._client_secret = client_secret
        self.tenant = tenant
        self.allowed_tenants = allowed_tenants
        self.authority_base = authority_base.rstrip("/")
        self._session = ProviderSession(ca_bundle)
        # Discovery documents only (no tokens), shared so apps built per flow skip re-discovery.
        self._http_cache: dict[Any, Any] = {}
        self._jwks: JwksCache | None = None
        self._lock = threading.Lock()

    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        requested = list(dict.fromkeys(self.SIGN_IN_SCOPES + tuple(scopes)))
        try:
            flow = self._app().initiate_auth_code_flow(
                requested,
                redirect_uri=redirect_uri,
                state=state,
                prompt="select_account" if not scopes else "consent",
                response_mode="form_post",
            )
        except (requests.RequestException, ValueError) as error:
            raise ProviderUnavailable("Microsoft's sign-in service did not answer") from error
        return AuthRequest(url=flow["auth_uri"], flow={k: flow.get(k) for k in FLOW_KEYS})

    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        if params.get("error"):
            raise AuthorizationDenied(
                "Microsoft did not grant access", code=_safe_code(params["error"])
            )
        if not params.get("code"):
            raise CallbackRejected("the callback carries no authorization code")
        try:
            result = self._app().acquire_token_by_auth_code_flow(dict(flow), dict(params))
        except ValueError as error:  # MSAL: state mismatch or a malformed response
            raise CallbackRejected("the callback does not match the sign-in request") from error
        except RuntimeError as error:  # MSAL: nonce mismatch (its message holds the nonces)
            raise TokenExchangeFailed("the ID token failed the 'nonce' check") from error
        except requests.RequestException as error:
            raise ProviderUnavailable("Microsoft's token endpoint did not answer") from error
        if "error" in result:
            raise TokenExchangeFailed(
                "Microsoft refused the authorization code", code=_safe_code(result["error"])
            )
        claims = validate_id_token(
            result.get("id_token", ""),
            self.jwks(),
            audience=self.client_id,
            nonce=hashlib.sha256(str(flow["nonce"]).encode("ascii")).hexdigest(),
            issuer_ok=self._issuer_ok,
        )
        tid, oid = claims.get("tid"), claims.get("oid")
        if not tid or not oid:
            raise CallbackRejected("the ID token lacks the tenant or object id")
        return Identity(
            provider=self.name,
            issuer=self.issuer_for(str(tid)),
            subject=f"{tid}:{oid}",  # (tid, oid): stable across apps, never the e-mail
            # Microsoft's `email` claim is mutable and unverified: display only, never a key.
            email=None,
            name=claims.get("name") or claims.get("preferred_username"),
            granted_scopes=frozenset(str(result.get("scope", "")).split()),
        )

    def issuer_for(self, tid: str) -> str:
        return f"{self.authority_base}/{tid}/v2.0"

    def _issuer_ok(self, iss: str, claims: Mapping[str, Any]) -> bool:
        tid = str(claims.get("tid", ""))
        if tid not in self.allowed_tenants:
            raise TenantNotAllowed("accounts of this Microsoft tenant may not sign in here")
        return iss == self.issuer_for(tid)

    def jwks(self) -> JwksCache:
        with self._lock:
            if self._jwks is None:
                discovery = (
                    f"{self.authority_base}/{self.tenant}/v2.0/.well-known/openid-configuration"
                )
                jwks_uri = get_json(self._session, discovery).get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise ProviderUnavailable("Microsoft's discovery document lacks jwks_uri")
                self._jwks = JwksCache(self._session, jwks_uri)
            return self._jwks

    def _app(self) -> msal.ConfidentialClientApplication:
        """A new app per flow: its in-memory token cache must never outlive the request."""
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self._client_secret,
            authority=f"{self.authority_base}/{self.tenant}",
            instance_discovery=self.authority_base == MICROSOFT_AUTHORITY_BASE,
            http_client=self._session,
            http_cache=self._http_cache,
            token_cache=msal.TokenCache(),
        )

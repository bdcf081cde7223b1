"""Microsoft identity platform v2 through MSAL's ConfidentialClientApplication, and
free/busy through Graph's getSchedule (with requests: MSAL only provides the token).

MSAL checks `state` and the nonce hash but no longer validates ID tokens (1.38+), so the
signature, audience, expiry, issuer and tenant are checked here. The issuer is per tenant
(`{authority}/{tid}/v2.0`) and the tenant must be on the configured allow-list.
Graph (the mailbox, getSchedule) is connectors/microsoft_graph.py's, its subscriptions
connectors/microsoft_watch.py's, and a grant's refresh connectors/microsoft_tokens.py's.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import msal
import requests
from msal.exceptions import MsalServiceError

from connectors.base import Connector
from connectors.capabilities import Capabilities
from connectors.errors import (
    AuthorizationDenied,
    CallbackRejected,
    ProviderUnavailable,
    TenantNotAllowed,
    TokenExchangeFailed,
)
from connectors.fanout_http import FanoutHttp
from connectors.http import ProviderSession, get_json
from connectors.id_token import JwksCache, validate_id_token
from connectors.microsoft_config import MicrosoftConfig, configure
from connectors.microsoft_graph import GraphCalendarApi
from connectors.microsoft_tokens import (
    RESERVED_SCOPES,
    TRANSIENT_ERRORS,
    KeepsNothing,
    MsalGrantApi,
)
from connectors.microsoft_watch import WATCH_SCOPES, GraphWatchApi
from connectors.oidc import _safe_code, expires_at
from connectors.provider_spec import ProviderConfig, ProviderSpec, Setting
from connectors.values import AuthRequest, Identity, TokenSet

MICROSOFT_AUTHORITY_BASE = "https://login.microsoftonline.com"
GRAPH_API = "https://graph.microsoft.com"
# The flow keys MSAL needs back at the callback; `auth_uri` is not among them.
FLOW_KEYS = ("state", "redirect_uri", "scope", "code_verifier", "nonce", "claims_challenge")


class MicrosoftConnector(GraphCalendarApi, GraphWatchApi, MsalGrantApi, Connector):
    """Work, school and (if allowed) personal Microsoft accounts; callback by form_post."""

    kind = "microsoft"
    default_title = "Microsoft"
    capabilities = Capabilities(
        sign_in=True,
        calendars=True,
        credential="oauth_token",
        can_revoke=False,  # no revocation endpoint (PROTOCOLS.md §2.8)
        batch_size=20,  # schedules per getSchedule call
        window_limit=timedelta(days=60),  # Graph: "less than 62 days"
        addressing="mailbox",  # getSchedule names calendars by mailbox address (§2.6)
        watch="channel",  # Graph subscriptions (connectors/microsoft_watch.py)
        watch_scopes=WATCH_SCOPES,
        watch_extends=True,  # PATCH /subscriptions/{id}
    )
    response_method = "POST"
    SIGN_IN_SCOPES = ("email",)  # MSAL adds openid, profile and offline_access itself

    @classmethod
    def from_config(
        cls, config: ProviderConfig, ca_bundle: str | None = None
    ) -> MicrosoftConnector:
        if not isinstance(config, MicrosoftConfig):
            raise TypeError(f"{cls.__name__} needs a MicrosoftConfig, not {type(config).__name__}")
        return cls(
            config.name,
            client_id=config.client_id,
            client_secret=config.client_secret,
            tenant=config.tenant,
            allowed_tenants=config.allowed_tenants,
            authority_base=config.authority_base or MICROSOFT_AUTHORITY_BASE,
            ca_bundle=ca_bundle,
        )

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
        graph_base: str | None = None,
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
        self._kept: dict[bool, msal.ConfidentialClientApplication] = {}  # grant? -> app
        # Graph is Microsoft's for Microsoft's own authority, the emulator's otherwise.
        if graph_base is None:
            own = self.authority_base == MICROSOFT_AUTHORITY_BASE
            graph_base = GRAPH_API if own else self.authority_base
        self.graph_base = graph_base.rstrip("/")
        # free/busy fans out to many grants at once: a pool of its own, kept alive, and
        # urllib3 without requests' layers (connectors/fanout_http.py says why)
        self._graph_session = FanoutHttp(ca_bundle)
        # grant id -> mailbox: "primary" costs one userinfo call per grant, not per fetch.
        # Never keyed by a token; `forget_grant` drops an entry when the grant ends.
        self._addresses: dict[str, str] = {}
        self._addresses_lock = threading.Lock()

    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        # MSAL sends openid, profile and offline_access itself and refuses them as input.
        scopes = tuple(s for s in dict.fromkeys(scopes) if s not in RESERVED_SCOPES)
        requested = list(dict.fromkeys(self.SIGN_IN_SCOPES + scopes))
        try:
            flow = self._kept_app(grant=bool(scopes)).initiate_auth_code_flow(
                requested,
                redirect_uri=redirect_uri,
                state=state,
                prompt="select_account" if not scopes else "consent",
                response_mode="form_post",
            )
        except (requests.RequestException, ValueError) as error:
            raise ProviderUnavailable("Microsoft's sign-in service did not answer") from error
        kept = {k: flow.get(k) for k in FLOW_KEYS}
        # Scopes beyond sign-in: the flow is a grant, and `complete` keeps its tokens.
        kept["grant_scopes"] = list(dict.fromkeys(scopes))
        return AuthRequest(url=flow["auth_uri"], flow=kept)

    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        # RFC 9207 §2.4 (mix-up): Entra sends no `iss` today, but one that arrives must be
        # a Microsoft issuer before the code is redeemed, and the token's tenant's after.
        response_iss = params.get("iss")
        if response_iss is not None and not self._is_own_issuer(response_iss):
            raise CallbackRejected("the callback comes from another issuer")
        if params.get("error"):
            raise AuthorizationDenied(
                "Microsoft did not grant access", code=_safe_code(params["error"])
            )
        if not params.get("code"):
            raise CallbackRejected("the callback carries no authorization code")
        grant = bool(flow.get("grant_scopes"))
        msal_flow = {k: flow.get(k) for k in FLOW_KEYS}
        try:
            # the kept app of the flow's kind, whose cache keeps nothing: a grant keeps its
            # tokens from the answer (microsoft_tokens.py), a sign-in none
            result = self._kept_app(grant=grant).acquire_token_by_auth_code_flow(
                msal_flow, dict(params)
            )
        except json.JSONDecodeError:  # the token endpoint's answer is not JSON
            raise ProviderUnavailable("Microsoft's token endpoint answered unreadably") from None
        except ValueError as error:  # MSAL: state mismatch
            raise CallbackRejected("the callback does not match the sign-in request") from error
        except RuntimeError as error:  # MSAL: nonce mismatch (its message holds the nonces)
            raise TokenExchangeFailed("the ID token failed the 'nonce' check") from error
        except (requests.RequestException, MsalServiceError) as error:
            # Network failure, or a 5xx (MSAL raises MsalServiceError for those).
            raise ProviderUnavailable(
                f"Microsoft's token endpoint did not answer ({type(error).__name__})"
            ) from None
        if result.get("error") in TRANSIENT_ERRORS:  # 429 (MSAL raises only for 5xx)
            raise ProviderUnavailable("Microsoft's token endpoint is unavailable")
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
        if response_iss is not None and response_iss != self.issuer_for(str(tid)):
            raise CallbackRejected("the callback comes from another issuer")
        # Exactly what the token endpoint says was granted: never what was asked for.
        granted = frozenset(str(result.get("scope", "")).split())
        tokens = None
        if grant:
            access = result.get("access_token")
            if not isinstance(access, str) or not access:
                raise ProviderUnavailable("Microsoft's token answer holds no access token")
            refresh = result.get("refresh_token")
            # what refreshing needs, not MSAL's serialized cache (microsoft_tokens.py); with
            # no refresh token (offline_access withheld) the grant ends at its first refresh
            tokens = TokenSet(
                granted_scopes=granted,
                access_token=access,
                expires_at=expires_at(None, result.get("expires_in")),
                refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            )
        return Identity(
            provider=self.name,
            issuer=self.issuer_for(str(tid)),
            subject=f"{tid}:{oid}",  # (tid, oid): stable across apps, never the e-mail
            # Microsoft's `email` claim is mutable and unverified: display only, never a key.
            email=None,
            name=claims.get("name") or claims.get("preferred_username"),
            granted_scopes=granted,
            tokens=tokens,
        )

    def issuer_for(self, tid: str) -> str:
        return f"{self.authority_base}/{tid}/v2.0"

    def _is_own_issuer(self, iss: str) -> bool:
        """`{authority}/{tenant}/v2.0` for some tenant: the only shape a Microsoft `iss` has."""
        tenant = iss.removeprefix(f"{self.authority_base}/").removesuffix("/v2.0")
        return iss == self.issuer_for(tenant) and tenant != "" and "/" not in tenant

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

    def _kept_app(self, grant: bool = False) -> msal.ConfidentialClientApplication:
        """An app of each kind, kept: sign-in's starts and redeems sign-ins without the
        `offline_access` MSAL adds otherwise (a sign-in needs no refresh token); the other
        starts grants and redeems their codes (a grant keeps its tokens from the answer).
        Their caches keep nothing, so no two flows share anything, and MSAL's setup of an
        app (0.3-0.7 ms, mostly an import probe) is paid once (issue 17)."""
        if grant not in self._kept:  # a race builds two alike; one is kept
            excluded = None if grant else ["offline_access"]
            self._kept[grant] = self._app(KeepsNothing(), exclude_scopes=excluded)
        return self._kept[grant]

    def _app(
        self, cache: msal.TokenCache | None = None, exclude_scopes: list[str] | None = None
    ) -> msal.ConfidentialClientApplication:
        """A new app per flow or refresh: its token cache must never outlive the request.

        `http_cache` is shared: it holds discovery documents and MSAL's throttling of
        error answers (429/5xx for their Retry-After, 400s for a minute), never a token.
        """
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self._client_secret,
            authority=f"{self.authority_base}/{self.tenant}",
            instance_discovery=self.authority_base == MICROSOFT_AUTHORITY_BASE,
            http_client=self._session,
            http_cache=self._http_cache,
            token_cache=cache if cache is not None else msal.TokenCache(),
            exclude_scopes=exclude_scopes,
        )


PROVIDER = ProviderSpec(
    kind=MicrosoftConnector.kind,
    connector=MicrosoftConnector,
    settings=(
        Setting("CLIENT_ID", "Entra app registration's client id", enables=True),
        Setting("CLIENT_SECRET", "Entra app registration's client secret", secret=True),
        Setting("TENANT", "common, organizations (default), consumers or a tenant GUID"),
        Setting("ALLOWED_TENANTS", "comma-separated tenant GUIDs whose accounts may sign in"),
    ),
    configure=lambda env: configure(env, MicrosoftConnector.kind),
    how_to_enable="GATEWAY_MICROSOFT_CLIENT_ID and _SECRET",
    emulated_names=("microsoft",),
)

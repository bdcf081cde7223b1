"""Any standard OpenID Connect provider, configured by its discovery URL (Authlib client)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from connectors.base import Connector
from connectors.capabilities import SIGN_IN_ONLY
from connectors.errors import (
    AuthorizationDenied,
    CallbackRejected,
    ProviderUnavailable,
    TokenExchangeFailed,
)
from connectors.http import DEFAULT_TIMEOUT, ProviderSession, environment_proxies, get_json
from connectors.id_token import JwksCache, validate_id_token
from connectors.oidc_config import EMULATOR_NAME, WELL_KNOWN, OidcConfig, configure
from connectors.provider_spec import (
    ProviderConfig,
    ProviderEnv,
    ProviderSpec,
    Setting,
    SettingError,
)
from connectors.values import AuthRequest, Identity, TokenSet

# Token-endpoint errors that say "try later", not "this request is wrong".
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "internal_failure"})


class OidcConnector(Connector):
    """Sign-in through the authorization-code flow with PKCE S256, state and nonce.

    The issuer is pinned: the discovery document must name the expected issuer (ASVS
    10.5.3), and from then on the callback's RFC 9207 `iss` must equal the document's value
    exactly, and so must the ID token's. Without a configured issuer, the expected one is
    the discovery URL's prefix, with or without a trailing slash (OpenID Connect Discovery
    §4.3: `https://tenant.example.auth0.com/` publishes its document at
    `https://tenant.example.auth0.com/.well-known/openid-configuration`).
    """

    TOKEN_AUTH_METHOD = "client_secret_basic"  # noqa: S105 - a method name
    kind = "oidc"
    default_title = "OpenID Connect"
    capabilities = SIGN_IN_ONLY

    @classmethod
    def from_config(cls, config: ProviderConfig, ca_bundle: str | None = None) -> Connector:
        if not isinstance(config, OidcConfig):
            raise TypeError(f"{cls.__name__} needs a OidcConfig, not {type(config).__name__}")
        if not config.discovery_url:
            raise SettingError(f"provider {config.name!r} has no discovery URL")
        return cls(
            config.name,
            discovery_url=config.discovery_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            ca_bundle=ca_bundle,
            title=config.title,
        )

    def __init__(
        self,
        name: str,
        *,
        discovery_url: str,
        client_id: str,
        client_secret: str,
        ca_bundle: str | None = None,
        title: str | None = None,
        expected_issuer: str | None = None,
    ) -> None:
        self.name = name
        self.title = title or name.capitalize()
        self.discovery_url = discovery_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._ca_bundle = ca_bundle
        prefix = discovery_url.removesuffix(WELL_KNOWN)
        # What the discovery document may name; its exact value is pinned once it is read.
        self._issuers_allowed = (
            frozenset({expected_issuer}) if expected_issuer else frozenset({prefix, prefix + "/"})
        )
        self.expected_issuer = expected_issuer or prefix
        self._session = ProviderSession(ca_bundle)
        self._metadata: dict[str, Any] | None = None
        self._jwks: JwksCache | None = None
        self._lock = threading.Lock()

    # -- provider facts a subclass may refine ------------------------------------------------
    def accepted_issuers(self) -> frozenset[str]:
        return frozenset({self.expected_issuer})

    def authorize_params(self, scopes: tuple[str, ...]) -> dict[str, str]:
        """Extra authorization parameters; sign-in asks the user to pick an account."""
        return {"prompt": "select_account"} if not scopes else {"prompt": "consent"}

    # -- the flow ------------------------------------------------------------------------------
    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        metadata = self.metadata()
        verifier = secrets.token_urlsafe(64)  # 86 characters: inside RFC 7636's 43..128
        nonce = secrets.token_urlsafe(32)
        requested = tuple(dict.fromkeys(self.SIGN_IN_SCOPES + tuple(scopes)))
        client = self._client(redirect_uri, requested)
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"],
            state=state,
            code_verifier=verifier,
            nonce=nonce,
            **self.authorize_params(tuple(scopes)),
        )
        flow = {
            "code_verifier": verifier,
            "nonce": nonce,
            "scopes": list(requested),
            # Scopes beyond sign-in: the flow is a grant, and `complete` keeps its tokens.
            "grant_scopes": list(dict.fromkeys(scopes)),
        }
        return AuthRequest(url=url, flow=flow)

    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        metadata = self.metadata()
        self.check_response_issuer(params, metadata)
        if params.get("error"):
            raise AuthorizationDenied(
                "the provider did not grant access", code=_safe_code(params["error"])
            )
        code = params.get("code")
        if not code:
            raise CallbackRejected("the callback carries no authorization code")
        client = self._client(redirect_uri, tuple(flow.get("scopes", ())))
        try:
            token = client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=flow["code_verifier"],
            )
        except AuthlibBaseError as error:
            if error.error in TRANSIENT_ERRORS:  # 429/503 with an OAuth error body
                raise ProviderUnavailable("the provider's token endpoint is unavailable") from None
            raise TokenExchangeFailed(
                "the provider refused the authorization code", code=_safe_code(error.error)
            ) from error
        except (requests.RequestException, ValueError) as error:
            raise ProviderUnavailable("the provider's token endpoint did not answer") from error
        claims = validate_id_token(
            token.get("id_token", ""),
            self.jwks(),
            audience=self.client_id,
            nonce=flow["nonce"],
            issuer_ok=lambda iss, _claims: iss in self.accepted_issuers(),
        )
        verified = claims.get("email_verified") is True
        # Exactly what the token endpoint says was granted: people may untick scopes.
        granted = frozenset(str(token.get("scope", "")).split())
        return Identity(
            provider=self.name,
            issuer=self.expected_issuer,
            subject=str(claims["sub"]),
            email=claims.get("email") if verified else None,
            name=claims.get("name"),
            granted_scopes=granted,
            tokens=_grant_tokens(token, granted) if flow.get("grant_scopes") else None,
        )

    def check_response_issuer(self, params: Mapping[str, str], metadata: Mapping[str, Any]) -> None:
        """RFC 9207 mix-up defence: Authlib ignores `iss` on the callback, so check it here."""
        iss = params.get("iss")
        if iss is None:
            if metadata.get("authorization_response_iss_parameter_supported") is True:
                raise CallbackRejected("the callback lacks the issuer its provider always sends")
            return
        if iss != self.expected_issuer:
            raise CallbackRejected("the callback comes from another issuer")

    # -- provider metadata -------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                document = get_json(self._session, self.discovery_url)
                issuer = document.get("issuer")
                if not isinstance(issuer, str) or issuer not in self._issuers_allowed:
                    raise ProviderUnavailable("the discovery document names an unexpected issuer")
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(document.get(key), str):
                        raise ProviderUnavailable(f"the discovery document lacks {key}")
                self.expected_issuer = issuer  # exactly, for `iss` and ID-token checks
                self._metadata = document
            return self._metadata

    def jwks(self) -> JwksCache:
        if self._jwks is None:
            self._jwks = JwksCache(self._session, self.metadata()["jwks_uri"])
        return self._jwks

    def _client(self, redirect_uri: str, scopes: tuple[str, ...]) -> OAuth2Session:
        """A client for one flow, sending through the connector's connection pool: a new
        session of its own would pay a TCP connect, a TLS handshake and a CA bundle load
        on every code exchange (most of the gateway's own time per sign-in, README
        "Benchmarks"). Same CA bundle, timeouts and proxies; only the pool is shared."""
        client = OAuth2Session(
            self.client_id,
            self._client_secret,
            scope=" ".join(scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=self.TOKEN_AUTH_METHOD,
            default_timeout=DEFAULT_TIMEOUT,
            verify=self._ca_bundle or True,
            trust_env=False,
            proxies=environment_proxies(self.discovery_url),  # HTTPS_PROXY, when set
        )
        for prefix in ("https://", "http://"):
            client.mount(prefix, self._session.get_adapter(prefix))
        return client


def _grant_tokens(token: Mapping[str, Any], granted: frozenset[str]) -> TokenSet:
    """The tokens a grant keeps from a code exchange: never the ID token."""
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProviderUnavailable("the provider's token answer holds no access token")
    refresh = token.get("refresh_token")
    return TokenSet(
        granted_scopes=granted,
        access_token=access,
        expires_at=expires_at(token.get("expires_at"), token.get("expires_in")),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
    )


def expires_at(at: object, expires_in: object) -> float | None:
    """An access token's expiry in epoch seconds, from `expires_at` or `expires_in`."""
    for value, base in ((at, 0.0), (expires_in, time.time())):
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
            return base + float(value)
    return None


def _safe_code(value: object) -> str:
    """A provider error code fit for our error shape: short, plain characters only."""
    text = str(value or "provider_error")
    return text if text.replace("_", "").isalnum() and len(text) <= 64 else "provider_error"


def _configure(env: ProviderEnv) -> list[ProviderConfig]:
    """This provider's configured instances (the settings are read in oidc_config.py)."""
    return configure(env, PROVIDER)


PROVIDER = ProviderSpec(
    kind=OidcConnector.kind,
    connector=OidcConnector,
    settings=(
        Setting("DISCOVERY_URL", "the provider's https .../.well-known/openid-configuration"),
        Setting("CLIENT_ID", "OAuth client id", enables=True),
        Setting("CLIENT_SECRET", "OAuth client secret", secret=True),
    ),
    configure=_configure,
    how_to_enable="a GATEWAY_OIDC_<NAME>_* triple",
    named=True,
    emulated_names=(EMULATOR_NAME,),
)

"""Google: OpenID Connect via Authlib, with Google's two issuer forms and offline access."""

from __future__ import annotations

from connectors.oidc import OidcConnector

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GOOGLE_ISSUER = "https://accounts.google.com"
# Google still returns the legacy form for some implementations (PROTOCOLS.md §1.1).
GOOGLE_ISSUERS = frozenset({GOOGLE_ISSUER, "accounts.google.com"})


class GoogleConnector(OidcConnector):
    """Google sign-in; calendar scopes are added incrementally (include_granted_scopes)."""

    def __init__(
        self,
        name: str = "google",
        *,
        client_id: str,
        client_secret: str,
        discovery_url: str = GOOGLE_DISCOVERY_URL,
        ca_bundle: str | None = None,
    ) -> None:
        super().__init__(
            name,
            discovery_url=discovery_url,
            client_id=client_id,
            client_secret=client_secret,
            ca_bundle=ca_bundle,
            title="Google",
            # Google's own discovery URL names its issuer; an emulator's names its own URL.
            expected_issuer=GOOGLE_ISSUER if discovery_url == GOOGLE_DISCOVERY_URL else None,
        )

    def accepted_issuers(self) -> frozenset[str]:
        if self.expected_issuer == GOOGLE_ISSUER:
            return GOOGLE_ISSUERS
        return frozenset({self.expected_issuer})

    def authorize_params(self, scopes: tuple[str, ...]) -> dict[str, str]:
        if not scopes:
            return {"prompt": "select_account"}
        # A refresh token is issued only with offline access and a consent screen.
        return {"access_type": "offline", "include_granted_scopes": "true", "prompt": "consent"}

"""Build connectors from plain configuration: the only place that maps a kind to a class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from connectors.base import Connector
from connectors.google import GOOGLE_DISCOVERY_URL, GoogleConnector
from connectors.microsoft import MICROSOFT_AUTHORITY_BASE, MicrosoftConnector
from connectors.oidc import OidcConnector


@dataclass(frozen=True)
class ProviderConfig:
    """One configured sign-in provider. `kind` picks the class; `name` is its URL segment."""

    name: str
    kind: str
    client_id: str
    client_secret: str = field(repr=False)
    discovery_url: str | None = None
    authority_base: str | None = None
    tenant: str | None = None
    allowed_tenants: frozenset[str] = frozenset()
    title: str | None = None


class UnknownProvider(LookupError):
    """Raised for a provider kind or name nobody configured."""


def _google(cfg: ProviderConfig, ca_bundle: str | None) -> Connector:
    return GoogleConnector(
        cfg.name,
        client_id=cfg.client_id,
        client_secret=cfg.client_secret,
        discovery_url=cfg.discovery_url or GOOGLE_DISCOVERY_URL,
        ca_bundle=ca_bundle,
    )


def _microsoft(cfg: ProviderConfig, ca_bundle: str | None) -> Connector:
    return MicrosoftConnector(
        cfg.name,
        client_id=cfg.client_id,
        client_secret=cfg.client_secret,
        tenant=cfg.tenant or "organizations",
        allowed_tenants=cfg.allowed_tenants,
        authority_base=cfg.authority_base or MICROSOFT_AUTHORITY_BASE,
        ca_bundle=ca_bundle,
    )


def _oidc(cfg: ProviderConfig, ca_bundle: str | None) -> Connector:
    if not cfg.discovery_url:
        raise UnknownProvider(f"provider {cfg.name!r} has no discovery URL")
    return OidcConnector(
        cfg.name,
        discovery_url=cfg.discovery_url,
        client_id=cfg.client_id,
        client_secret=cfg.client_secret,
        ca_bundle=ca_bundle,
        title=cfg.title,
    )


CONNECTOR_KINDS: dict[str, Callable[[ProviderConfig, str | None], Connector]] = {
    "google": _google,
    "microsoft": _microsoft,
    "oidc": _oidc,
}


def build_connector(cfg: ProviderConfig, ca_bundle: str | None = None) -> Connector:
    try:
        factory = CONNECTOR_KINDS[cfg.kind]
    except KeyError:
        raise UnknownProvider(f"unknown provider kind {cfg.kind!r}") from None
    return factory(cfg, ca_bundle)

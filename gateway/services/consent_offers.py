"""What can be asked: the consent offers of the catalogue's optional purposes, per provider.

An offer is everything the gateway's own consent page shows before a provider is asked for
anything: the purpose, exactly the catalogue's scopes for that provider's kind, its note and,
for a provider whose credential is typed (an app password, a feed address), the form's
fields. Kept apart from `consent` (giving and withdrawing) because the page, the account
list and the giving all read offers, while only the service records answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connectors.base import Connector
from connectors.capabilities import CredentialField
from gateway.services.signin_errors import SignInError
from scopes import Catalogue, Purpose, PurposeNotOffered, UnknownPurpose


class ConsentError(SignInError):
    """A consent request that cannot go ahead; shown to the person with its reason."""


@dataclass(frozen=True)
class Offer:
    """Everything the consent page shows for one purpose with one provider."""

    purpose: Purpose
    provider: str
    provider_title: str
    scopes: tuple[str, ...]
    note: str | None
    # a provider whose credential the person types: the form's fields and URL presets,
    # and what the credential is (capabilities.credential: "app_password", "feed_url")
    fields: tuple[CredentialField, ...] = ()
    presets: tuple[tuple[str, str], ...] = ()
    credential: str = "none"


@dataclass(frozen=True)
class Refusal:
    purpose: str
    provider: str
    missing: tuple[str, ...]


class ConsentOffers:
    """The offers of `catalogue` with the providers in `connectors` (kind of each in `kinds`)."""

    def __init__(
        self, catalogue: Catalogue, connectors: Mapping[str, Connector], kinds: Mapping[str, str]
    ) -> None:
        self.catalogue = catalogue
        self.connectors = dict(connectors)
        self.kinds = dict(kinds)

    def offer(self, purpose_id: str, provider: str) -> Offer:
        try:
            purpose = self.catalogue.purpose(purpose_id)
        except UnknownPurpose:
            raise ConsentError("unknown_purpose", "There is no such purpose.", 404) from None
        connector = self.connectors.get(provider)
        if connector is None or not connector.supports_grants or not purpose.optional:
            raise ConsentError(
                "not_offered", "This purpose cannot be granted with that provider.", 404
            )
        kind = self.kinds[provider]
        try:
            scopes = purpose.scopes_for(kind)
        except PurposeNotOffered:
            raise ConsentError(
                "not_offered", "This purpose cannot be granted with that provider.", 404
            ) from None
        return Offer(
            purpose=purpose,
            provider=provider,
            provider_title=connector.title,
            scopes=tuple(scopes),
            note=purpose.consent.provider_notes.get(kind),
            fields=connector.credential_fields if _typed(connector) else (),
            presets=connector.credential_presets if _typed(connector) else (),
            credential=connector.capabilities.credential,
        )

    def all_offers(self) -> list[Offer]:
        """Every optional purpose with every provider that can grant it."""
        found = []
        for purpose in self.catalogue.purposes:
            for provider, connector in self.connectors.items():
                if not connector.supports_grants or not purpose.optional:
                    continue
                try:
                    found.append(self.offer(purpose.id, provider))
                except ConsentError:
                    continue
        return found

    def takes_typed_credential(self, provider: str) -> bool:
        connector = self.connectors.get(provider)
        return connector is not None and _typed(connector)


def _typed(connector: Connector) -> bool:
    return connector.capabilities.credential in ("app_password", "feed_url") and bool(
        connector.credential_fields
    )

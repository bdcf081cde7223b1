"""The purpose catalogue: catalogue.toml read into frozen, validated models.

The catalogue is the one place that says what the gateway processes and why, so consent
pages, grants, retention and the processing register all read it from here instead of
repeating scopes or durations in code. Unknown keys in the file are errors, so a typo never
silently drops a promise. The parts a purpose is made of (texts, scope entries, retention)
are scopes/texts.py's.

    CatalogueError (LookupError)
    ├── UnknownPurpose (also KeyError)    no purpose with that id
    ├── UnknownCategory (also KeyError)   no data category with that id
    └── PurposeNotOffered                 the purpose has no scopes for that provider
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator

from connectors import registry
from scopes.texts import (
    ConsentText,
    DataCategory,
    LegalBasis,
    ProviderKind,
    Recipient,
    ScopeEntry,
    Text,
)

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")
LegalBasisId = Literal["consent", "contract", "legitimate_interest", "legal_obligation"]
PROVIDER_KINDS: tuple[str, ...] = registry.kinds()
LEGAL_BASES: tuple[LegalBasisId, ...] = (
    "consent",
    "contract",
    "legitimate_interest",
    "legal_obligation",
)

# Scopes every OpenID Connect provider understands (OIDC Core 1.0 §3.1.2.1, §5.4, §11).
OIDC_SCOPES: dict[str, str] = {
    "openid": "https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest",
    "profile": "https://openid.net/specs/openid-connect-core-1_0.html#ScopeClaims",
    "email": "https://openid.net/specs/openid-connect-core-1_0.html#ScopeClaims",
    "address": "https://openid.net/specs/openid-connect-core-1_0.html#ScopeClaims",
    "phone": "https://openid.net/specs/openid-connect-core-1_0.html#ScopeClaims",
    "offline_access": "https://openid.net/specs/openid-connect-core-1_0.html#OfflineAccess",
}

_GRAPH_REFERENCE = "https://learn.microsoft.com/graph/permissions-reference"
# Microsoft Graph delegated permissions the gateway may reasonably ask for, each with its
# entry in the permissions reference; anything else in the catalogue is a typo or needs a
# deliberate addition here. The OIDC scopes come from the identity platform's own list.
MICROSOFT_PERMISSIONS: dict[str, str] = {
    "Calendars.ReadBasic": f"{_GRAPH_REFERENCE}#calendarsreadbasic",
    "Calendars.Read": f"{_GRAPH_REFERENCE}#calendarsread",
    "Calendars.Read.Shared": f"{_GRAPH_REFERENCE}#calendarsreadshared",
    "Calendars.ReadWrite": f"{_GRAPH_REFERENCE}#calendarsreadwrite",
    "Calendars.ReadWrite.Shared": f"{_GRAPH_REFERENCE}#calendarsreadwriteshared",
    "Place.Read.All": f"{_GRAPH_REFERENCE}#placereadall",
    "User.Read": f"{_GRAPH_REFERENCE}#userread",
    "User.ReadBasic.All": f"{_GRAPH_REFERENCE}#userreadbasicall",
    "openid": "https://learn.microsoft.com/entra/identity-platform/scopes-oidc#openid",
    "email": "https://learn.microsoft.com/entra/identity-platform/scopes-oidc#email",
    "profile": "https://learn.microsoft.com/entra/identity-platform/scopes-oidc#profile",
    "offline_access": "https://learn.microsoft.com/entra/identity-platform/scopes-oidc#offline_access",
}


class CatalogueError(LookupError):
    """Something asked of the catalogue that it does not hold."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class UnknownPurpose(CatalogueError, KeyError):
    """No purpose with that id."""


class UnknownCategory(CatalogueError, KeyError):
    """No data category with that id."""


class PurposeNotOffered(CatalogueError):
    """The purpose asks nothing of that provider, so it cannot be granted there."""


class Activity(Text):
    """A processing activity: what the register lists, purpose or not."""

    id: str
    title: str
    description: str
    legal_basis: LegalBasisId
    data_subjects: tuple[str, ...]
    data_categories: tuple[str, ...]
    recipients: tuple[Recipient, ...]


class Purpose(Activity):
    """Something a person is asked to grant, with the provider scopes it needs."""

    optional: bool
    requires: tuple[str, ...] = ()
    never_processed: tuple[str, ...] = ()
    scopes: dict[ProviderKind, tuple[ScopeEntry, ...]]
    consent: ConsentText

    @model_validator(mode="after")
    def _consent_is_freely_given(self) -> Self:
        if self.legal_basis == "consent" and not self.optional:
            raise ValueError(f"{self.id}: a purpose based on consent must be optional")
        if not self.scopes or not all(self.scopes.values()):
            raise ValueError(f"{self.id}: every listed provider needs at least one scope")
        return self

    @property
    def providers(self) -> tuple[ProviderKind, ...]:
        return tuple(k for k in PROVIDER_KINDS if k in self.scopes)

    def _entries(self, provider_kind: ProviderKind) -> tuple[ScopeEntry, ...]:
        try:
            return self.scopes[provider_kind]
        except KeyError:
            raise PurposeNotOffered(
                f"purpose {self.id!r} is not offered for {provider_kind!r}"
            ) from None

    def scopes_for(self, provider_kind: ProviderKind) -> tuple[str, ...]:
        """The scopes to request, narrowest first as listed. MSAL rejects its reserved
        scopes (openid, profile, offline_access): the Microsoft connector drops them."""
        return tuple(e.scope for e in self._entries(provider_kind))

    def required_scopes(self, provider_kind: ProviderKind) -> tuple[str, ...]:
        """What the token response's `scope` must show for the purpose to be usable:
        the requested scopes minus those the provider never echoes (offline_access)."""
        return tuple(e.scope for e in self._entries(provider_kind) if e.echoed)

    def missing_scopes(
        self, provider_kind: ProviderKind, granted: Iterable[str]
    ) -> tuple[str, ...]:
        """Required scopes absent from `granted`, accepting the provider's other spellings."""
        have = set(granted)
        return tuple(
            e.scope
            for e in self._entries(provider_kind)
            if e.echoed
            and e.scope not in have
            and not have.intersection(e.echoed_as)
            and not have.intersection(e.earlier)
        )

    def is_usable(self, provider_kind: ProviderKind, granted: Iterable[str]) -> bool:
        return not self.missing_scopes(provider_kind, granted)


class AuditEvent(Text):
    """One kind of audit record (gateway/storage/audit.py records no other kind)."""

    id: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")
    text: str


class Catalogue(Text):
    version: str
    updated: date
    controller: str
    policy: str
    provider_kinds: dict[ProviderKind, str]  # display titles
    legal_bases: dict[LegalBasisId, LegalBasis]
    data_categories: tuple[DataCategory, ...]
    purposes: tuple[Purpose, ...]
    operations: tuple[Activity, ...]
    audit_events: tuple[AuditEvent, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for kind, items in (
            ("data category", self.data_categories),
            ("purpose or operation", self.purposes + self.operations),
            ("audit event", self.audit_events),
        ):
            ids = [item.id for item in items]
            doubles = sorted({i for i in ids if ids.count(i) > 1})
            if doubles:
                raise ValueError(f"{kind} ids used twice: {', '.join(doubles)}")
        categories = {c.id for c in self.data_categories}
        purposes = {p.id for p in self.purposes}
        for activity in self.activities:
            unknown = set(activity.data_categories) - categories
            if unknown:
                raise ValueError(f"{activity.id}: unknown data categories {sorted(unknown)}")
            if activity.legal_basis not in self.legal_bases:
                raise ValueError(f"{activity.id}: legal basis {activity.legal_basis} undescribed")
        for purpose in self.purposes:
            untitled = set(purpose.scopes) - set(self.provider_kinds)
            if untitled:
                raise ValueError(f"{purpose.id}: provider kinds without a title {untitled}")
            if set(purpose.requires) - purposes or purpose.id in purpose.requires:
                raise ValueError(f"{purpose.id}: requires unknown purposes {purpose.requires}")
        return self

    @property
    def activities(self) -> tuple[Activity, ...]:
        """Purposes and operations: everything the processing register lists."""
        return self.purposes + self.operations

    @property
    def audit_actions(self) -> frozenset[str]:
        """The actions the audit trail may record, as the register lists them."""
        return frozenset(event.id for event in self.audit_events)

    def purpose(self, purpose_id: str) -> Purpose:
        for purpose in self.purposes:
            if purpose.id == purpose_id:
                return purpose
        known = ", ".join(p.id for p in self.purposes)
        raise UnknownPurpose(f"unknown purpose {purpose_id!r}; known: {known}")

    def category(self, category_id: str) -> DataCategory:
        for category in self.data_categories:
            if category.id == category_id:
                return category
        raise UnknownCategory(f"unknown data category {category_id!r}")

    def categories_of(self, activity: Activity) -> tuple[DataCategory, ...]:
        return tuple(self.category(c) for c in activity.data_categories)

    def purposes_for(self, provider_kind: ProviderKind) -> tuple[Purpose, ...]:
        return tuple(p for p in self.purposes if provider_kind in p.scopes)


def parse_catalogue(text: str) -> Catalogue:
    """A catalogue from TOML text; raises pydantic.ValidationError on any broken promise."""
    return Catalogue.model_validate(tomllib.loads(text))


@functools.cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    """The catalogue, read and validated once per process (it only changes with a deploy)."""
    return parse_catalogue(Path(path).read_text(encoding="utf-8"))

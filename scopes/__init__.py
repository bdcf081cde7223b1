"""The purpose catalogue: purposes, scopes, data categories, legal bases and retention.

`load_catalogue()` reads scopes/catalogue.toml once; `processing_register()` turns it into the
record of processing served at /v1/processing-register.
"""

from scopes.catalogue import (
    LEGAL_BASES,
    MICROSOFT_PERMISSIONS,
    OIDC_SCOPES,
    PROVIDER_KINDS,
    Activity,
    AuditEvent,
    Catalogue,
    CatalogueError,
    Purpose,
    PurposeNotOffered,
    UnknownCategory,
    UnknownPurpose,
    load_catalogue,
    parse_catalogue,
)
from scopes.register import processing_register
from scopes.texts import (
    ConsentText,
    DataCategory,
    LegalBasis,
    ProviderKind,
    Recipient,
    Retention,
    ScopeEntry,
)

__all__ = [
    "LEGAL_BASES",
    "MICROSOFT_PERMISSIONS",
    "OIDC_SCOPES",
    "PROVIDER_KINDS",
    "Activity",
    "AuditEvent",
    "Catalogue",
    "CatalogueError",
    "ConsentText",
    "DataCategory",
    "LegalBasis",
    "ProviderKind",
    "Purpose",
    "PurposeNotOffered",
    "Recipient",
    "Retention",
    "ScopeEntry",
    "UnknownCategory",
    "UnknownPurpose",
    "load_catalogue",
    "parse_catalogue",
    "processing_register",
]

"""The record of processing (GDPR Article 30) as plain JSON data, built from the catalogue.

Kept apart from the models so the JSON shape is stated once, here, and both the API and the
page render the same facts.
"""

from __future__ import annotations

from typing import Any

from scopes.catalogue import Activity, Catalogue, Purpose
from scopes.texts import DataCategory, Retention


def retention_json(retention: Retention) -> dict[str, Any]:
    """Durations as ISO 8601 strings (PT1H), absent limits as null."""
    return dict(retention.model_dump(mode="json"))


def category_json(category: DataCategory) -> dict[str, Any]:
    return {
        "id": category.id,
        "title": category.title,
        "description": category.description,
        "retention": retention_json(category.retention),
    }


def activity_json(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.id,
        "title": activity.title,
        "description": activity.description,
        "legal_basis": activity.legal_basis,
        "data_subjects": list(activity.data_subjects),
        "data_categories": list(activity.data_categories),
        "recipients": [r.model_dump(mode="json") for r in activity.recipients],
    }


def purpose_json(purpose: Purpose) -> dict[str, Any]:
    return {
        **activity_json(purpose),
        "optional": purpose.optional,
        "requires": list(purpose.requires),
        "never_processed": list(purpose.never_processed),
        "scopes": {kind: list(purpose.scopes_for(kind)) for kind in purpose.providers},
        "consent": {
            "version": purpose.consent.version,
            "sha256": purpose.consent.digest,
            **purpose.consent.model_dump(mode="json", exclude={"version"}),
        },
    }


def processing_register(catalogue: Catalogue) -> dict[str, Any]:
    """Purposes, operations, data categories with retention, legal bases, audit events."""
    return {
        "catalogue_version": catalogue.version,
        "updated": catalogue.updated.isoformat(),
        "controller": catalogue.controller,
        "policy": catalogue.policy,
        "legal_bases": {
            basis: described.model_dump(mode="json")
            for basis, described in catalogue.legal_bases.items()
        },
        "purposes": [purpose_json(p) for p in catalogue.purposes],
        "operations": [activity_json(o) for o in catalogue.operations],
        "data_categories": [category_json(c) for c in catalogue.data_categories],
        "audit_events": [e.model_dump(mode="json") for e in catalogue.audit_events],
    }

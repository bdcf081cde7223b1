"""The purpose catalogue as the services see it: by configured provider name, not kind."""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import Settings
from scopes import load_catalogue


def provider_kinds(settings: Settings) -> dict[str, str]:
    """Configured provider name -> catalogue kind ("emulator" is an "oidc" provider)."""
    return {p.name: p.kind for p in settings.providers}


def missing_scopes_checker(
    settings: Settings,
) -> Callable[[str, str, frozenset[str]], tuple[str, ...]]:
    kinds = provider_kinds(settings)
    catalogue = load_catalogue()

    def missing(purpose: str, provider: str, granted: frozenset[str]) -> tuple[str, ...]:
        return catalogue.purpose(purpose).missing_scopes(kinds[provider], granted)

    return missing

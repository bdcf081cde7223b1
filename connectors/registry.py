"""Every provider, keyed by kind, and the connectors built from configuration.

A provider module is any module of this package with a module-level `PROVIDER` (a
`connectors.provider_spec.ProviderSpec`): adding one needs no edit here. Kinds are listed in the
order of their module names. From this one table come the catalogue's provider kinds
(scopes/catalogue.py), the `GATEWAY_*` variables each provider reads (gateway/config.py),
what the emulator stands in for (gateway/__main__.py), and, once configured, the
connectors behind sign-in buttons, consent offers, free/busy and the CLI.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from functools import cache

import connectors
from connectors.base import Connector
from connectors.capabilities import Capabilities
from connectors.provider_spec import ProviderConfig, ProviderEnv, ProviderSpec, SettingError


class UnknownProvider(LookupError):
    """Raised for a provider kind or name nobody configured."""


@cache
def providers() -> dict[str, ProviderSpec]:
    """kind -> its spec, for every provider module of the package."""
    found: dict[str, ProviderSpec] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(connectors.__path__)):
        spec = getattr(importlib.import_module(f"connectors.{module}"), "PROVIDER", None)
        if isinstance(spec, ProviderSpec):
            if spec.kind in found:
                raise RuntimeError(f"provider kind {spec.kind!r} is declared twice")
            found[spec.kind] = spec
    return found


def kinds() -> tuple[str, ...]:
    return tuple(providers())


def spec(kind: str) -> ProviderSpec:
    try:
        return providers()[kind]
    except KeyError:
        raise UnknownProvider(f"unknown provider kind {kind!r}") from None


def capabilities(kind: str | None) -> Capabilities | None:
    """What a kind can do; None for a kind nobody declares."""
    found = providers().get(kind or "")
    return found.capabilities if found else None


def known_variables() -> frozenset[str]:
    """Every exact `GATEWAY_*` name a provider reads (named providers: see `owns_variable`)."""
    return frozenset().union(*(s.variables for s in providers().values()))


def owns_variable(name: str) -> bool:
    return any(s.owns(name) for s in providers().values())


def configured_in(env: Mapping[str, str]) -> bool:
    """Whether `env` configures some provider for real (else the emulator may stand in)."""
    return any(s.is_configured_in(env) for s in providers().values())


def emulated_names() -> tuple[str, ...]:
    """The provider names the emulator stands in for (its registered callback names)."""
    return tuple(n for s in providers().values() for n in s.emulated_names)


def enable_hints() -> str:
    """ "set A, B, or C": how each provider is turned on, for the "no provider" error."""
    return ", ".join(s.how_to_enable for s in providers().values() if s.capabilities.sign_in)


def configure(
    values: Mapping[str, str],
    emulator_url: str | None = None,
    emulator_client: tuple[str, str] | None = None,
) -> tuple[ProviderConfig, ...]:
    """Each provider reads its own variables; raises `SettingError` (one line) on a mistake."""
    taken = frozenset(k for k, s in providers().items() if not s.named)
    env = ProviderEnv(values, emulator_url, emulator_client, taken)
    found = [config for s in providers().values() for config in s.configure(env)]
    names = [c.name for c in found]
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise SettingError(f"two providers are configured under the name {doubles[0]!r}")
    return tuple(found)


def build_connector(cfg: ProviderConfig, ca_bundle: str | None = None) -> Connector:
    return spec(cfg.kind).connector.from_config(cfg, ca_bundle)


class Registry(Mapping[str, Connector]):
    """The configured connectors by name, with each one's kind and capabilities."""

    def __init__(self, configs: tuple[ProviderConfig, ...], ca_bundle: str | None = None):
        self._connectors = {c.name: build_connector(c, ca_bundle) for c in configs}
        self.kinds = {c.name: c.kind for c in configs}

    def __getitem__(self, name: str) -> Connector:
        return self._connectors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._connectors)

    def __len__(self) -> int:
        return len(self._connectors)

    def calendars(self) -> dict[str, Connector]:
        """The connectors that back rooms (free/busy, calendar lists)."""
        return {n: c for n, c in self._connectors.items() if c.capabilities.calendars}

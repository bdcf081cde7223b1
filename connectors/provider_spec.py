"""How a provider module declares itself and reads its configuration.

Each provider module defines a module-level `PROVIDER` (a `ProviderSpec`): its kind, its
`GATEWAY_*` settings and how to turn them into configured instances (`ProviderConfig`);
the registry (connectors/registry.py) finds every such module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connectors.capabilities import Capabilities

if TYPE_CHECKING:
    from connectors.base import Connector


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    """One configured provider: `kind` picks the module, `name` is its URL segment
    (/auth/login/<name>, /auth/callback/<name>) and the key of everything stored for it.
    A provider module subclasses this with the settings it reads."""

    name: str
    kind: str
    title: str | None = None


@dataclass(frozen=True, kw_only=True)
class OAuthClientConfig(ProviderConfig):
    """A provider the gateway is a registered OAuth client of."""

    client_id: str
    client_secret: str = field(repr=False)


class SettingError(ValueError):
    """A provider's `GATEWAY_*` variables are wrong; the message is one line saying what to
    change (gateway/config.py shows it as a configuration error)."""


@dataclass(frozen=True)
class Setting:
    """One environment variable of a provider: `GATEWAY_<KIND>_<name>`, or, for a provider
    configured under names of its own, `GATEWAY_<KIND>_<NAME>_<name>`. `enables`: setting
    it means the provider is configured (so no emulator is started in its place)."""

    name: str
    meaning: str
    secret: bool = False
    enables: bool = False


@dataclass(frozen=True)
class ProviderEnv:
    """The `GATEWAY_*` variables as one provider reads them (values already stripped).

    `emulator_url` is set when the emulator stands in for the providers, with the client it
    registers for the gateway (`emulator_client`); `taken_names` are names other providers
    already use.
    """

    values: Mapping[str, str]
    emulator_url: str | None = None
    emulator_client: tuple[str, str] | None = field(default=None, repr=False)
    taken_names: frozenset[str] = frozenset()

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name) or default

    def client(self, prefix: str) -> tuple[str, str] | None:
        """`<prefix>_CLIENT_ID` and `_CLIENT_SECRET`: both, or neither."""
        client_id, secret = self.get(f"{prefix}_CLIENT_ID"), self.get(f"{prefix}_CLIENT_SECRET")
        if client_id and not secret:
            raise SettingError(f"{prefix}_CLIENT_SECRET is missing ({prefix}_CLIENT_ID is set)")
        if secret and not client_id:
            raise SettingError(f"{prefix}_CLIENT_ID is missing ({prefix}_CLIENT_SECRET is set)")
        return (client_id, secret) if client_id and secret else None


@dataclass(frozen=True)
class ProviderSpec:
    """What one provider module declares (its module-level `PROVIDER`).

    `configure` reads the provider's settings and returns its configured instances (none
    when it is not configured); `named`: it may be configured several times, each under a
    name of its own (`GATEWAY_<KIND>_<NAME>_*`). `emulated_names` are the names the emulator
    registers callbacks for when it stands in for this provider. `how_to_enable` completes
    "no sign-in provider is configured: set ...".
    """

    kind: str
    connector: type[Connector]
    settings: tuple[Setting, ...]
    configure: Callable[[ProviderEnv], list[ProviderConfig]]
    how_to_enable: str
    named: bool = False
    emulated_names: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.connector.default_title

    @property
    def capabilities(self) -> Capabilities:
        return self.connector.capabilities

    @property
    def prefix(self) -> str:
        return f"GATEWAY_{self.kind.upper()}"

    @property
    def variables(self) -> frozenset[str]:
        """Its exact variable names (none for a `named` provider: see `pattern`)."""
        if self.named:
            return frozenset()
        return frozenset(f"{self.prefix}_{s.name}" for s in self.settings)

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """A `named` provider's variables: group 1 is the name, group 2 the setting."""
        if not self.named:
            return None
        suffixes = "|".join(re.escape(s.name) for s in self.settings)
        return re.compile(rf"^{self.prefix}_([A-Z0-9]+)_({suffixes})$")

    def owns(self, variable: str) -> bool:
        pattern = self.pattern
        return variable in self.variables or bool(pattern and pattern.match(variable))

    def is_configured_in(self, env: Mapping[str, str]) -> bool:
        """Whether `env` configures this provider for real (not through the emulator)."""
        if self.named:
            return any(self.owns(name) for name in env)
        return any(env.get(f"{self.prefix}_{s.name}") for s in self.settings if s.enables)

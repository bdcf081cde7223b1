"""The OpenID Connect connector's configuration: a discovery URL and a client for each
name, read from `GATEWAY_OIDC_<NAME>_*`, and the emulator's generic provider."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from connectors.provider_spec import (
    OAuthClientConfig,
    ProviderConfig,
    ProviderEnv,
    ProviderSpec,
    SettingError,
)

WELL_KNOWN = "/.well-known/openid-configuration"
# The generic provider the emulator serves, signed in at /auth/login/emulator.
EMULATOR_NAME = "emulator"


@dataclass(frozen=True, kw_only=True)
class OidcConfig(OAuthClientConfig):
    """An OpenID Connect client; `discovery_url` None: the provider's own, well-known one."""

    discovery_url: str | None = None


# -- configuration ------------------------------------------------------------------------------
def configure(env: ProviderEnv, spec: ProviderSpec) -> list[ProviderConfig]:
    """`GATEWAY_OIDC_<NAME>_DISCOVERY_URL`, `_CLIENT_ID`, `_CLIENT_SECRET` for each NAME; with
    the emulator, also its generic provider (unless a NAME of EMULATOR is configured)."""
    variable = spec.pattern or re.compile("(?!)")  # named: always a pattern
    names = sorted({m.group(1) for k in env.values if (m := variable.match(k))})
    found: list[ProviderConfig] = []
    for upper in names:
        prefix = f"{spec.prefix}_{upper}"
        discovery = env.get(f"{prefix}_DISCOVERY_URL")
        pair = env.client(prefix)
        if not discovery or not pair:
            missing = f"{prefix}_DISCOVERY_URL" if not discovery else f"{prefix}_CLIENT_ID"
            raise SettingError(f"{missing} is missing (other {prefix}_* variables are set)")
        parts = urlsplit(discovery)
        if parts.scheme != "https" or not parts.path.endswith(WELL_KNOWN):
            raise SettingError(
                f"{prefix}_DISCOVERY_URL must be an https URL ending in "
                "/.well-known/openid-configuration"
            )
        if upper.lower() in env.taken_names:
            raise SettingError(
                f"{prefix}_*: the name {upper.lower()!r} is taken by a built-in provider"
            )
        found.append(
            OidcConfig(
                name=upper.lower(),
                kind=spec.kind,
                client_id=pair[0],
                client_secret=pair[1],
                discovery_url=discovery,
                title=upper.capitalize(),
            )
        )
    client = env.emulator_client
    if env.emulator_url and client and EMULATOR_NAME not in {c.name for c in found}:
        found.append(
            OidcConfig(
                name=EMULATOR_NAME,
                kind=spec.kind,
                client_id=client[0],
                client_secret=client[1],
                discovery_url=f"{env.emulator_url}/generic{WELL_KNOWN}",
                title="Emulated OpenID Connect",
            )
        )
    return found

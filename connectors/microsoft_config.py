"""The Microsoft connector's configuration: the Entra app registration, its tenant and
the tenants whose accounts may sign in, read from `GATEWAY_MICROSOFT_*`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.provider_spec import OAuthClientConfig, ProviderConfig, ProviderEnv, SettingError

TENANT_NAMES = ("common", "organizations", "consumers")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# The tenant of the emulator's work accounts (emulator/accounts.json).
EMULATOR_TENANT = "11111111-1111-4111-8111-111111111111"
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


@dataclass(frozen=True, kw_only=True)
class MicrosoftConfig(OAuthClientConfig):
    """An Entra app registration; `authority_base` None: Microsoft's own login host."""

    tenant: str = "organizations"
    allowed_tenants: frozenset[str] = frozenset()
    authority_base: str | None = None


# -- configuration ------------------------------------------------------------------------------
def configure(env: ProviderEnv, kind: str) -> list[ProviderConfig]:
    """`GATEWAY_MICROSOFT_CLIENT_ID`, `_SECRET`, `_TENANT`, `_ALLOWED_TENANTS`; with the
    emulator, its client by default and its authority."""
    prefix = f"GATEWAY_{kind.upper()}"
    pair = env.client(prefix) or env.emulator_client
    if not pair:
        return []
    tenant = (env.get(f"{prefix}_TENANT") or "organizations").lower()
    if tenant not in TENANT_NAMES and not GUID.match(tenant):
        raise SettingError(
            f"{prefix}_TENANT must be common, organizations, consumers "
            f"or a tenant GUID, got {tenant!r}"
        )
    return [
        MicrosoftConfig(
            name=kind,
            kind=kind,
            client_id=pair[0],
            client_secret=pair[1],
            tenant=tenant,
            allowed_tenants=_allowed_tenants(env, prefix, tenant),
            authority_base=env.emulator_url,
        )
    ]


def _allowed_tenants(env: ProviderEnv, prefix: str, tenant: str) -> frozenset[str]:
    name = f"{prefix}_ALLOWED_TENANTS"
    tenants = {t.strip().lower() for t in (env.get(name) or "").split(",") if t.strip()}
    for value in tenants:
        if not GUID.match(value):
            raise SettingError(f"{name} must list tenant GUIDs, got {value!r}")
    if tenants:
        return frozenset(tenants)
    if GUID.match(tenant):
        return frozenset({tenant})
    if env.emulator_url:
        return frozenset({EMULATOR_TENANT})
    raise SettingError(
        f"{name} is missing: tenant {tenant!r} admits any organisation, "
        "so list the tenant GUIDs that may sign in"
    )

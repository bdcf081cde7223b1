"""The registry: every provider module is found by its PROVIDER, and reads its own settings."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import connectors
from connectors import registry
from connectors.google import GoogleConnector
from connectors.microsoft_config import MicrosoftConfig
from connectors.oidc_config import OidcConfig
from connectors.provider_spec import SettingError

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = "https://127.0.0.1:9443"
CLIENT = ("emulator-client", "emulator-secret")

NEW_PROVIDER = """
from connectors.capabilities import Capabilities
from connectors.provider_spec import ProviderEnv, ProviderSpec, Setting
from connectors.oidc import OidcConnector
from connectors.oidc_config import OidcConfig


class FeedConnector(OidcConnector):
    kind = "feeds"
    default_title = "Feeds"
    capabilities = Capabilities(sign_in=False, calendars=True, credential="feed_url")


def _configure(env: ProviderEnv) -> list:
    if not env.get("GATEWAY_FEEDS_ENABLED"):
        return []
    return [OidcConfig(name="feeds", kind="feeds", client_id="-", client_secret="-")]


PROVIDER = ProviderSpec(
    kind="feeds",
    connector=FeedConnector,
    settings=(Setting("ENABLED", "1 to offer feeds", enables=True),),
    configure=_configure,
    how_to_enable="GATEWAY_FEEDS_ENABLED=1",
)
"""


def test_the_kinds_are_the_provider_modules() -> None:
    assert registry.kinds() == ("caldav", "google", "ics", "microsoft", "oidc")
    assert registry.spec("google").connector is GoogleConnector
    with pytest.raises(registry.UnknownProvider):
        registry.spec("yahoo")


def test_a_new_module_is_a_new_provider_without_editing_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "feeds.py").write_text(NEW_PROVIDER)
    monkeypatch.setattr(connectors, "__path__", [*connectors.__path__, str(tmp_path)])
    try:
        found = registry.providers.__wrapped__()  # type: ignore[attr-defined]
    finally:
        sys.modules.pop("connectors.feeds", None)
    assert list(found) == ["caldav", "feeds", "google", "ics", "microsoft", "oidc"]
    assert found["feeds"].variables == frozenset({"GATEWAY_FEEDS_ENABLED"})
    assert found["feeds"].capabilities.credential == "feed_url"


def test_capabilities_are_data_the_gateway_asks_instead_of_kinds() -> None:
    caldav, google, ics, microsoft, oidc = (registry.capabilities(k) for k in registry.kinds())
    assert caldav and google and ics and microsoft and oidc
    assert (caldav.credential, caldav.addressing, caldav.sign_in) == (
        "app_password",
        "listed",
        False,
    )
    assert (ics.credential, ics.batch_size, ics.sign_in, ics.can_revoke) == (
        "feed_url",
        1,
        False,
        False,
    )
    assert (google.batch_size, google.addressing, google.can_revoke) == (50, "listed", True)
    assert (microsoft.batch_size, microsoft.addressing, microsoft.can_revoke) == (
        20,
        "mailbox",
        False,
    )
    assert google.window_limit == microsoft.window_limit == timedelta(days=60)
    assert google.credential == microsoft.credential == "oauth_token"
    assert oidc.sign_in and not oidc.calendars
    assert registry.capabilities("yahoo") is None


def test_each_provider_declares_and_reads_its_own_variables() -> None:
    assert {
        "GATEWAY_GOOGLE_CLIENT_ID",
        "GATEWAY_GOOGLE_CLIENT_SECRET",
        "GATEWAY_MICROSOFT_TENANT",
        "GATEWAY_MICROSOFT_ALLOWED_TENANTS",
    } <= registry.known_variables()
    assert registry.owns_variable("GATEWAY_OIDC_OKTA_DISCOVERY_URL")
    assert not registry.owns_variable("GATEWAY_OIDC_OKTA_PASSWORD")
    configs = registry.configure(
        {
            "GATEWAY_MICROSOFT_CLIENT_ID": "app",
            "GATEWAY_MICROSOFT_CLIENT_SECRET": "shh",  # pragma: allowlist secret
            "GATEWAY_MICROSOFT_TENANT": "11111111-2222-4333-8444-555555555555",
        }
    )
    assert [(c.name, c.kind) for c in configs] == [("microsoft", "microsoft")]
    assert isinstance(configs[0], MicrosoftConfig)
    assert configs[0].allowed_tenants == {"11111111-2222-4333-8444-555555555555"}
    assert "shh" not in repr(configs)


def test_the_emulator_stands_in_for_every_provider_it_names() -> None:
    configs = registry.configure({}, EMULATOR, CLIENT)
    assert [c.name for c in configs] == ["google", "microsoft", "emulator"]
    assert registry.emulated_names() == ("google", "microsoft", "emulator")
    assert isinstance(configs[0], OidcConfig)
    assert configs[0].discovery_url == f"{EMULATOR}/.well-known/openid-configuration"
    built = registry.Registry(configs)
    assert list(built.calendars()) == ["google", "microsoft"]
    assert built.kinds == {"google": "google", "microsoft": "microsoft", "emulator": "oidc"}


def test_a_generic_provider_may_not_take_a_built_in_name() -> None:
    with pytest.raises(SettingError, match="'google' is taken by a built-in provider"):
        registry.configure(
            {
                "GATEWAY_OIDC_GOOGLE_DISCOVERY_URL": "https://idp.example/.well-known/openid-configuration",
                "GATEWAY_OIDC_GOOGLE_CLIENT_ID": "a",
                "GATEWAY_OIDC_GOOGLE_CLIENT_SECRET": "b",
            }
        )


def test_real_credentials_mean_no_emulator() -> None:
    assert not registry.configured_in({"GATEWAY_MICROSOFT_TENANT": "common"})
    assert registry.configured_in({"GATEWAY_GOOGLE_CLIENT_ID": "id.apps"})
    assert registry.configured_in({"GATEWAY_OIDC_OKTA_CLIENT_ID": ""})  # named: present


def test_connectors_import_no_flask_redis_or_gateway() -> None:
    probe = (
        "import sys\n"
        "from connectors import registry\n"
        "registry.providers()\n"
        "print(sorted(m for m in ('flask', 'redis', 'gateway', 'emulator') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

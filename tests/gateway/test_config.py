"""Configuration mistakes stop start-up with one line that says what to change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.microsoft_config import EMULATOR_TENANT
from gateway.config import ConfigError, Settings
from gateway.crypto.keyring import new_key_entry

SECRET = "s" * 40
KEYS = new_key_entry("v1")
GOOGLE = {"GATEWAY_GOOGLE_CLIENT_ID": "id.apps", "GATEWAY_GOOGLE_CLIENT_SECRET": "shh"}
ROOT = Path(__file__).resolve().parents[2]
PLANTED_URL = "http://gateway:S3cr3t-pw@127.0.0.1:9"  # pragma: allowlist secret


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {"GATEWAY_SECRET_KEY": SECRET, "GATEWAY_ENCRYPTION_KEYS": KEYS, **GOOGLE, **env}
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GATEWAY_SECRET_KEY": ""}, "GATEWAY_SECRET_KEY is missing"),
        ({"GATEWAY_SECRET_KEY": "short"}, "GATEWAY_SECRET_KEY is too short"),
        ({"GATEWAY_ENCRYPTION_KEYS": ""}, "GATEWAY_ENCRYPTION_KEYS is missing"),
        ({"GATEWAY_ENCRYPTION_KEYS": "v1:c2hvcnQ"}, "must decode to 32 bytes"),
        ({"GATEWAY_GOOGLE_CLIENT_SECRET": ""}, "GATEWAY_GOOGLE_CLIENT_SECRET is missing"),
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT must be a whole number"),
        ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT must be a whole number"),
        ({"GATEWAY_REDIS_URL": "localhost:6379"}, "GATEWAY_REDIS_URL must start with"),
        ({"GATEWAY_PUBLIC_URL": "http://gw.example"}, "must use https unless"),
        ({"GATEWAY_PUBLIC_URL": "https://gw.example/app"}, "must be an origin"),
        ({"GATEWAY_CA_BUNDLE": "/nonexistent/ca.pem"}, "names a file that does not exist"),
        ({"GATEWAY_EMULATOR_URL": "http://127.0.0.1:9"}, "GATEWAY_EMULATOR_URL must be an https"),
        ({"GATEWAY_LOG_LEVEL": "chatty"}, "GATEWAY_LOG_LEVEL must be one of"),
        ({"GATEWAY_BREAKER_FAILURES": "1"}, "GATEWAY_BREAKER_FAILURES must be"),
        ({"GATEWAY_BREAKER_COOL_DOWN_SECONDS": "soon"}, "GATEWAY_BREAKER_COOL_DOWN_SECONDS must"),
        ({"GATEWAY_DISK_SCRUB_SECONDS": "0"}, "GATEWAY_DISK_SCRUB_SECONDS must be"),
        ({"GATEWAY_BREAKER_SLOW_CALLS": "1"}, "GATEWAY_BREAKER_SLOW_CALLS must be"),
        ({"GATEWAY_BREAKER_SLOW_SECONDS": "0.5"}, "GATEWAY_BREAKER_SLOW_SECONDS must be"),
        (
            {"GATEWAY_FREEBUSY_COLD_DEADLINE_SECONDS": "0"},
            "GATEWAY_FREEBUSY_COLD_DEADLINE_SECONDS must be",
        ),
        (
            {"GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS": "a day"},
            "GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS must be a whole number from 5 to 86400",
        ),
        (
            {"GATEWAY_CHANGE_CHECK_SECONDS": "10"},
            "GATEWAY_CHANGE_CHECK_SECONDS must be a whole number from 60 to 3600",
        ),
        ({"GATEWAY_GOOGEL_CLIENT_ID": "x"}, "did you mean GATEWAY_GOOGLE_CLIENT_ID?"),
        ({"GATEWAY_PUBLIC_URL": "https://gw.example"}, "GATEWAY_REDIS_URL is missing"),
        (
            {"GATEWAY_PUBLIC_URL": "https://gw.example", "GATEWAY_ALLOW_EMBEDDED_REDIS": "yes"},
            "GATEWAY_ALLOW_EMBEDDED_REDIS must be 0 or 1",
        ),
        ({"GATEWAY_TRUSTED_HOSTS": "*"}, "GATEWAY_TRUSTED_HOSTS must list host names"),
        ({"GATEWAY_TRUSTED_HOSTS": "gw.example,*.example"}, "got '*.example'"),
        ({"GATEWAY_TRUSTED_HOSTS": "https://gw.example"}, "GATEWAY_TRUSTED_HOSTS must list"),
        ({"GATEWAY_TRUSTED_HOSTS": "gw.example:443"}, "GATEWAY_TRUSTED_HOSTS must list"),
        ({"GATEWAY_REDIS_URL": "redis://redis:six/0"}, "the port must be a number"),
        ({"GATEWAY_REDIS_URL": "rediss://redis:99999"}, "the port must be a number"),
        (
            {"GATEWAY_SESSION_IDLE_MINUTES": "120", "GATEWAY_SESSION_ABSOLUTE_HOURS": "1"},
            "GATEWAY_SESSION_IDLE_MINUTES (120) must not exceed GATEWAY_SESSION_ABSOLUTE_HOURS",
        ),
        ({"GATEWAY_ERROR_LOG_INTERVAL_SECONDS": "0"}, "GATEWAY_ERROR_LOG_INTERVAL_SECONDS must"),
        (
            {"GATEWAY_EMULATOR_URL": PLANTED_URL},
            "'http://[redacted]@127.0.0.1:9'",
        ),
        (
            {"GATEWAY_MICROSOFT_CLIENT_ID": "a", "GATEWAY_MICROSOFT_CLIENT_SECRET": "b"},
            "GATEWAY_MICROSOFT_ALLOWED_TENANTS is missing",
        ),
        (
            {
                "GATEWAY_MICROSOFT_CLIENT_ID": "a",
                "GATEWAY_MICROSOFT_CLIENT_SECRET": "b",
                "GATEWAY_MICROSOFT_ALLOWED_TENANTS": "contoso.com",
            },
            "must list tenant GUIDs",
        ),
        ({"GATEWAY_OIDC_OKTA_CLIENT_ID": "a"}, "GATEWAY_OIDC_OKTA_CLIENT_SECRET is missing"),
        (
            {"GATEWAY_OIDC_OKTA_CLIENT_ID": "a", "GATEWAY_OIDC_OKTA_CLIENT_SECRET": "b"},
            "GATEWAY_OIDC_OKTA_DISCOVERY_URL is missing",
        ),
        (
            {
                "GATEWAY_OIDC_OKTA_DISCOVERY_URL": "http://okta.example/.well-known/openid-configuration",
                "GATEWAY_OIDC_OKTA_CLIENT_ID": "a",
                "GATEWAY_OIDC_OKTA_CLIENT_SECRET": "b",
            },
            "must be an https URL ending in",
        ),
    ],
)
def test_each_mistake_is_named_in_one_line(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(**env)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_what_a_deployment_may_rightly_set_is_accepted() -> None:
    configured = settings(
        GATEWAY_PUBLIC_URL="https://gw.example",
        GATEWAY_ALLOW_EMBEDDED_REDIS="1",
        GATEWAY_TRUSTED_HOSTS="GW.internal, .example.org,10.0.0.7,::1",
        GATEWAY_SESSION_IDLE_MINUTES="60",
        GATEWAY_SESSION_ABSOLUTE_HOURS="1",
    )
    assert configured.redis_url is None
    assert configured.trusted_hosts == (
        "gw.example",
        "gw.internal",
        ".example.org",
        "10.0.0.7",
        "::1",
    )
    assert configured.session_idle_seconds == configured.session_absolute_seconds


def test_a_credential_in_a_mistaken_url_is_not_repeated() -> None:
    with pytest.raises(ConfigError) as raised:
        settings(GATEWAY_PUBLIC_URL=PLANTED_URL.replace("http:", "ftp:"))
    assert "S3cr3t-pw" not in str(raised.value)


def test_no_provider_at_all_is_a_mistake() -> None:
    with pytest.raises(ConfigError, match="no sign-in provider is configured"):
        Settings.from_env({"GATEWAY_SECRET_KEY": SECRET, "GATEWAY_ENCRYPTION_KEYS": KEYS})


def test_secrets_never_appear_in_the_settings_repr() -> None:
    shown = repr(settings())
    assert SECRET not in shown
    assert "shh" not in shown


def test_redirect_uris_come_from_configuration_not_the_request() -> None:
    configured = settings(
        GATEWAY_PUBLIC_URL="https://gw.example", GATEWAY_REDIS_URL="redis://redis.internal:6379"
    )
    assert configured.redirect_uri("google") == "https://gw.example/auth/callback/google"
    assert configured.trusted_hosts == ("gw.example",)
    assert configured.secure_cookies


def test_generic_provider_is_named_by_its_variables() -> None:
    configured = settings(
        GATEWAY_OIDC_OKTA_DISCOVERY_URL="https://okta.example/.well-known/openid-configuration",
        GATEWAY_OIDC_OKTA_CLIENT_ID="okta-id",
        GATEWAY_OIDC_OKTA_CLIENT_SECRET="okta-secret",
    )
    okta = next(p for p in configured.providers if p.name == "okta")
    assert okta.kind == "oidc"
    assert okta.discovery_url == "https://okta.example/.well-known/openid-configuration"


def test_the_emulator_stands_in_for_google_and_microsoft() -> None:
    configured = Settings.from_env(
        {
            "GATEWAY_SECRET_KEY": SECRET,
            "GATEWAY_ENCRYPTION_KEYS": KEYS,
            "GATEWAY_EMULATOR_URL": "https://127.0.0.1:9443",
        }
    )
    by_name = {p.name: p for p in configured.providers}
    assert set(by_name) == {"google", "microsoft", "emulator"}
    assert by_name["microsoft"].authority_base == "https://127.0.0.1:9443"
    assert by_name["microsoft"].allowed_tenants == frozenset({EMULATOR_TENANT})


def test_start_up_stops_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_SECRET_KEY=SECRET,
        GATEWAY_ENCRYPTION_KEYS=KEYS,
        GATEWAY_GOOGLE_CLIENT_ID="id.apps",
        GATEWAY_DATA_DIR=str(tmp_path),
        GATEWAY_REDIS_URL="redis://127.0.0.1:1",
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: GATEWAY_GOOGLE_CLIENT_SECRET is missing "
        "(GATEWAY_GOOGLE_CLIENT_ID is set)"
    ]


def test_the_circuit_breaker_takes_its_settings_from_the_environment(
    make_env: Any, build_gateway: Any
) -> None:
    app = build_gateway(
        make_env(GATEWAY_BREAKER_FAILURES="3", GATEWAY_BREAKER_COOL_DOWN_SECONDS="90")
    )
    breaker = app.extensions["gateway"].freebusy.breaker
    assert (breaker.threshold, breaker.cool_down_seconds) == (3, 90)


def test_slowness_and_the_cold_deadline_take_their_settings_from_the_environment(
    make_env: Any, build_gateway: Any
) -> None:
    """The breaker's slow-call limits, and the cold deadline, capped by the deadline."""
    default = build_gateway(make_env()).extensions["gateway"].freebusy
    assert (default.breaker.slow_calls, default.breaker.slow_seconds) == (5, 2)
    assert default.cold_deadline_seconds == 3
    freebusy = (
        build_gateway(
            make_env(
                GATEWAY_BREAKER_SLOW_CALLS="7",
                GATEWAY_BREAKER_SLOW_SECONDS="4",
                GATEWAY_FREEBUSY_COLD_DEADLINE_SECONDS="12",
                GATEWAY_FREEBUSY_DEADLINE_SECONDS="10",
            )
        )
        .extensions["gateway"]
        .freebusy
    )
    assert (freebusy.breaker.slow_calls, freebusy.breaker.slow_seconds) == (7, 4)
    assert freebusy.cold_deadline_seconds == 10  # never past the deadline


def test_the_disk_scrub_bound_comes_from_the_environment(make_env: Any, build_gateway: Any) -> None:
    default = build_gateway(make_env()).extensions["gateway"].disk_scrub
    assert default.bound == 60
    scrub = build_gateway(make_env(GATEWAY_DISK_SCRUB_SECONDS="7")).extensions["gateway"]
    assert scrub.disk_scrub.bound == 7


def test_admins_are_provider_subjects_or_verified_email_addresses() -> None:
    found = settings(GATEWAY_ADMINS="google:1084, Bob@Example.com ,microsoft:tid:oid")
    assert found.admins == {"google:1084", "bob@example.com", "microsoft:tid:oid"}
    assert found.is_admin("google", "999", "bob@example.com")
    assert not found.is_admin("google", "999", None)  # no verified address, no match
    marks = found.identity_marks("google", "999", "BOB@example.com")
    assert found.is_admin_marked(marks)
    assert not found.is_admin_marked(found.identity_marks("google", "999", "eve@example.com"))
    with pytest.raises(ConfigError, match=r"provider:subject .* or a verified e-mail address"):
        settings(GATEWAY_ADMINS="bob")

"""One configuration scheme: `GATEWAY_*` variables, read once, validated, one line per mistake.

Tests pass a mapping of the same variables to `create_app`; nothing else reads the environment.
`Settings.from_env` is the table of contents; how each area's values are read lives beside it:
config_values.py (numbers, flags, choices, URLs, files), config_web.py (public URL, trusted
hosts), config_keys.py (secret and encryption keys), config_admins.py (who is an admin) and
config_services.py (Redis, SMTP and the providers, read through connectors/registry.py).
A new setting: its name in GATEWAY_VARIABLES, a field on Settings, one line in `from_env`
(a parser of its own goes in its area's module).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from connectors import registry
from connectors.outbound_guard import Allowlist
from connectors.provider_spec import ProviderConfig
from gateway import config_admins, config_keys, config_services, config_web, secret_files
from gateway.config_admins import AdminRules
from gateway.config_values import ConfigError, choice, existing_file, flag, https_url, whole_number
from gateway.crypto.keyring import KeyRing

__all__ = ["GATEWAY_VARIABLES", "KNOWN_VARIABLES", "ConfigError", "Settings"]

# The gateway's own settings; each provider's come from its module (connectors/registry.py).
GATEWAY_VARIABLES = frozenset(
    {
        "GATEWAY_HOST",
        "GATEWAY_BREAKER_FAILURES",
        "GATEWAY_BREAKER_COOL_DOWN_SECONDS",
        "GATEWAY_BREAKER_SLOW_CALLS",
        "GATEWAY_BREAKER_SLOW_SECONDS",
        "GATEWAY_DISK_SCRUB_SECONDS",
        "GATEWAY_TOMBSTONE_DIR",
        "GATEWAY_PORT",
        "GATEWAY_PUBLIC_URL",
        "GATEWAY_SECRET_KEY",
        "GATEWAY_SECRET_KEY_FALLBACKS",
        "GATEWAY_ENCRYPTION_KEYS",
        "GATEWAY_REDIS_URL",
        "GATEWAY_DATA_DIR",
        "GATEWAY_CA_BUNDLE",
        "GATEWAY_OUTBOUND_ALLOWLIST",
        "GATEWAY_EMULATOR_URL",
        "GATEWAY_TRUSTED_HOSTS",
        "GATEWAY_SESSION_IDLE_MINUTES",
        "GATEWAY_SESSION_ABSOLUTE_HOURS",
        "GATEWAY_LOG_LEVEL",
        "GATEWAY_ADMINS",
        "GATEWAY_FREEBUSY_TTL_SECONDS",
        "GATEWAY_FREEBUSY_STALE_SECONDS",
        "GATEWAY_FREEBUSY_DEADLINE_SECONDS",
        "GATEWAY_FREEBUSY_COLD_DEADLINE_SECONDS",
        "GATEWAY_ADMIN_EMAIL_DOMAIN",
        "GATEWAY_ALLOW_EMBEDDED_REDIS",
        "GATEWAY_ERROR_LOG_INTERVAL_SECONDS",
        "GATEWAY_SMTP_URL",
        "GATEWAY_SMTP_FROM",
        "GATEWAY_OTEL_ENABLED",
        # freshness of watched calendars and change checks (issue 15 items 3 and 8)
        "GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS",
        "GATEWAY_CHANGE_CHECK_SECONDS",
    }
)
KNOWN_VARIABLES = GATEWAY_VARIABLES | registry.known_variables()


@dataclass(frozen=True)
class Settings(AdminRules):
    host: str
    port: int
    public_url: str
    secret_key: str = field(repr=False)
    keyring: KeyRing
    redis_url: str | None
    data_dir: Path
    ca_bundle: str | None
    emulator_url: str | None
    providers: tuple[ProviderConfig, ...]
    trusted_hosts: tuple[str, ...]
    session_idle_seconds: int
    session_absolute_seconds: int
    log_level: str
    admins: frozenset[str] = frozenset()
    freebusy_ttl_seconds: int = 120
    freebusy_stale_seconds: int = 3600
    freebusy_deadline_seconds: int = 8
    # how long a request with nothing cached waits (capped by the deadline above)
    freebusy_cold_deadline_seconds: int = 3
    breaker_failures: int = 5
    breaker_cool_down_seconds: int = 30
    breaker_slow_calls: int = 5
    breaker_slow_seconds: int = 2
    disk_scrub_seconds: int = 60
    # keys a GATEWAY_SECRET_KEY rotation replaced, still accepted for short-lived values
    secret_key_fallbacks: tuple[str, ...] = field(default=(), repr=False)
    # the tombstone log (services/tombstones.py): outside Redis and its backups
    tombstone_dir: Path | None = None
    admin_email_domain: str | None = None
    max_content_length: int = 64 * 1024
    error_log_interval_seconds: int = 10
    smtp_url: str | None = field(default=None, repr=False)  # holds the SMTP password
    smtp_from: str = "consent-gateway@localhost"
    # OpenTelemetry spans exported over OTLP/HTTP (gateway/tracing_otel.py); off by default
    otel_enabled: bool = False
    # a calendar with a live channel (or change check) keeps its cached days this long;
    # CalDAV and ICS calendars are checked for changes this often (issue 15 items 3 and 8)
    freebusy_watched_ttl_seconds: int = 21600
    change_check_seconds: int = 60
    # addresses let past the SSRF guard: CalDAV/ICS servers and API clients' webhooks
    outbound_allowlist: str = ""

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure whenever the public URL is https (everything but local dev)."""
        return self.public_url.startswith("https://")

    @property
    def oldest_secret_key(self) -> str:
        """What the secrets that outlive rotations start from (storage/stable_secrets.py)."""
        return (self.secret_key_fallbacks or (self.secret_key,))[-1]

    def redirect_uri(self, provider: str) -> str:
        """Built from configuration, never from the request's Host header (RFC 9700 §4.13)."""
        return f"{self.public_url}/auth/callback/{provider}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, admin_only: bool = False) -> Settings:
        """`admin_only`: for admin commands, which need storage and keys but no provider."""
        try:  # GATEWAY_<NAME>_FILE and GATEWAY_SECRETS_DIR (gateway/secret_files.py)
            environ = secret_files.resolve(environ)
        except secret_files.SecretFileError as error:
            raise ConfigError(str(error)) from None
        env = {k: v.strip() for k, v in environ.items() if k.startswith("GATEWAY_")}
        _reject_unknown(env)
        host = env.get("GATEWAY_HOST", "127.0.0.1")
        port = whole_number(env, "GATEWAY_PORT", 8000, 1, 65535)
        public_url = config_web.public_url(env.get("GATEWAY_PUBLIC_URL") or f"http://{host}:{port}")
        emulator_url = https_url(env, "GATEWAY_EMULATOR_URL")
        public_host = urlsplit(public_url).hostname or ""
        extra_hosts = config_web.trusted_hosts(env)
        idle_minutes = whole_number(env, "GATEWAY_SESSION_IDLE_MINUTES", 30, 1, 24 * 60)
        absolute_hours = whole_number(env, "GATEWAY_SESSION_ABSOLUTE_HOURS", 12, 1, 24)
        if idle_minutes > 60 * absolute_hours:
            raise ConfigError(
                f"GATEWAY_SESSION_IDLE_MINUTES ({idle_minutes}) must not exceed "
                f"GATEWAY_SESSION_ABSOLUTE_HOURS ({absolute_hours} h = {60 * absolute_hours} min)"
            )
        redis_url = config_services.redis_url(env)
        data_dir = Path(env.get("GATEWAY_DATA_DIR") or "var")
        # An https public URL is a real deployment: there an embedded Redis would be one per
        # worker and pod (sessions and revocations not shared), so it takes an explicit yes.
        allow_embedded = flag(env, "GATEWAY_ALLOW_EMBEDDED_REDIS")
        if redis_url is None and public_url.startswith("https://") and not allow_embedded:
            raise ConfigError(
                "GATEWAY_REDIS_URL is missing: with an https GATEWAY_PUBLIC_URL every worker "
                "would start its own embedded Redis; set it, or GATEWAY_ALLOW_EMBEDDED_REDIS=1 "
                "for development"
            )
        return cls(
            host=host,
            port=port,
            public_url=public_url,
            secret_key=config_keys.secret_key(env),
            secret_key_fallbacks=config_keys.secret_key_fallbacks(env),
            keyring=config_keys.keyring(env),
            redis_url=redis_url,
            data_dir=data_dir,
            ca_bundle=existing_file(env, "GATEWAY_CA_BUNDLE"),
            emulator_url=emulator_url,
            providers=config_services.providers(env, emulator_url, required=not admin_only),
            trusted_hosts=tuple(dict.fromkeys([public_host, *extra_hosts])),
            session_idle_seconds=60 * idle_minutes,
            session_absolute_seconds=3600 * absolute_hours,
            log_level=choice(
                env, "GATEWAY_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")
            ),
            admins=config_admins.admins(env),
            freebusy_ttl_seconds=whole_number(env, "GATEWAY_FREEBUSY_TTL_SECONDS", 120, 5, 3600),
            freebusy_stale_seconds=whole_number(
                env, "GATEWAY_FREEBUSY_STALE_SECONDS", 3600, 0, 86400
            ),
            freebusy_deadline_seconds=whole_number(
                env, "GATEWAY_FREEBUSY_DEADLINE_SECONDS", 8, 1, 25
            ),
            breaker_failures=whole_number(env, "GATEWAY_BREAKER_FAILURES", 5, 2, 100),
            freebusy_cold_deadline_seconds=whole_number(
                env, "GATEWAY_FREEBUSY_COLD_DEADLINE_SECONDS", 3, 1, 25
            ),
            breaker_cool_down_seconds=whole_number(
                env, "GATEWAY_BREAKER_COOL_DOWN_SECONDS", 30, 1, 600
            ),
            breaker_slow_calls=whole_number(env, "GATEWAY_BREAKER_SLOW_CALLS", 5, 2, 100),
            breaker_slow_seconds=whole_number(env, "GATEWAY_BREAKER_SLOW_SECONDS", 2, 1, 25),
            disk_scrub_seconds=whole_number(env, "GATEWAY_DISK_SCRUB_SECONDS", 60, 2, 3600),
            tombstone_dir=Path(env["GATEWAY_TOMBSTONE_DIR"])
            if env.get("GATEWAY_TOMBSTONE_DIR")
            else None,
            admin_email_domain=config_admins.admin_domain(env),
            error_log_interval_seconds=whole_number(
                env, "GATEWAY_ERROR_LOG_INTERVAL_SECONDS", 10, 1, 3600
            ),
            smtp_url=config_services.smtp_url(env),
            smtp_from=config_services.smtp_from(env, public_host),
            otel_enabled=flag(env, "GATEWAY_OTEL_ENABLED"),
            freebusy_watched_ttl_seconds=whole_number(
                env, "GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS", 21600, 5, 86400
            ),
            change_check_seconds=whole_number(env, "GATEWAY_CHANGE_CHECK_SECONDS", 60, 60, 3600),
            outbound_allowlist=_outbound_allowlist(env),
        )


def _reject_unknown(env: Mapping[str, str]) -> None:
    for name in sorted(env):
        if name in KNOWN_VARIABLES or registry.owns_variable(name):
            continue
        guess = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        raise ConfigError(f"{name} is not a known setting{hint}")


def _outbound_allowlist(env: Mapping[str, str]) -> str:
    text = env.get("GATEWAY_OUTBOUND_ALLOWLIST", "")
    try:
        Allowlist.parse(text)
    except ValueError as error:
        raise ConfigError(f"GATEWAY_OUTBOUND_ALLOWLIST: {error}") from None
    return text

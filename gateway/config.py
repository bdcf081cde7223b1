"""One configuration scheme: `GATEWAY_*` variables, read once, validated, one line per mistake.

Tests pass a mapping of the same variables to `create_app`; nothing else reads the environment.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from connectors import registry
from connectors.base import ProviderConfig, SettingError
from gateway import secret_files
from gateway.crypto.keyring import KeyRing, KeyRingError
from gateway.log_redaction import redact_url
from gateway.storage import redis_client

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# A GATEWAY_TRUSTED_HOSTS entry: a host name, optionally with a leading dot (its subdomains).
HOST_NAME = re.compile(r"\.?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")

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


class ConfigError(ValueError):
    """A configuration mistake; the message is one line that says what to change."""


@dataclass(frozen=True)
class Settings:
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
    freebusy_watched_ttl_seconds: int = 3600
    change_check_seconds: int = 60

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure whenever the public URL is https (everything but local dev)."""
        return self.public_url.startswith("https://")

    def is_admin(self, provider: str, subject: str, email: str | None) -> bool:
        """Admins are named by (provider, subject), by a verified e-mail address, or by a
        verified e-mail at one domain. `email` is only ever a provider-verified address
        (connectors keep none otherwise; Microsoft's is never trusted: connectors/microsoft.py)."""
        if f"{provider}:{subject}" in self.admins:
            return True
        if email and email.lower() in self.admins:
            return True
        domain = self.admin_email_domain
        return bool(domain and email and email.lower().endswith("@" + domain))

    def identity_marks(self, provider: str, subject: str, email: str | None) -> list[str]:
        """What a session keeps of an identity it proved, so that `is_admin_marked` can ask
        the configuration on every request: keyed hashes of "provider:subject" and of the
        verified e-mail's domain, never the values (the session lives in Redis)."""
        marks = [self._mark(f"id|{provider}:{subject}")]
        if email and "@" in email:
            marks.append(self._mark("domain|" + email.rsplit("@", 1)[1].lower()))
            marks.append(self._mark("email|" + email.lower()))
        return marks

    def is_admin_marked(self, marks: object) -> bool:
        """Admin status from this configuration, now: removal from GATEWAY_ADMINS (or of
        GATEWAY_ADMIN_EMAIL_DOMAIN) takes effect at the next request of every session."""
        if not isinstance(marks, list):
            return False
        return any(isinstance(m, str) and m in self._admin_marks for m in marks)

    @cached_property
    def _admin_marks(self) -> frozenset[str]:
        # marks of sessions that signed in before a secret-key rotation still count
        found: set[str] = set()
        for secret in (self.secret_key, *self.secret_key_fallbacks):
            found |= {
                self._mark(f"id|{entry}" if ":" in entry else f"email|{entry}", secret)
                for entry in self.admins
            }
            if self.admin_email_domain:
                found.add(self._mark("domain|" + self.admin_email_domain, secret))
        return frozenset(found)

    def _mark(self, value: str, secret: str | None = None) -> str:
        secret = secret or self.secret_key
        key = hmac.new(secret.encode(), b"gw admin marks v1", hashlib.sha256).digest()
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]

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
        port = _int(env, "GATEWAY_PORT", 8000, 1, 65535)
        public_url = _public_url(env.get("GATEWAY_PUBLIC_URL") or f"http://{host}:{port}")
        emulator_url = _https_url(env, "GATEWAY_EMULATOR_URL")
        public_host = urlsplit(public_url).hostname or ""
        extra_hosts = _trusted_hosts(env)
        idle_minutes = _int(env, "GATEWAY_SESSION_IDLE_MINUTES", 30, 1, 24 * 60)
        absolute_hours = _int(env, "GATEWAY_SESSION_ABSOLUTE_HOURS", 12, 1, 24)
        if idle_minutes > 60 * absolute_hours:
            raise ConfigError(
                f"GATEWAY_SESSION_IDLE_MINUTES ({idle_minutes}) must not exceed "
                f"GATEWAY_SESSION_ABSOLUTE_HOURS ({absolute_hours} h = {60 * absolute_hours} min)"
            )
        redis_url = _redis_url(env)
        data_dir = Path(env.get("GATEWAY_DATA_DIR") or "var")
        # An https public URL is a real deployment: there an embedded Redis would be one per
        # worker and pod (sessions and revocations not shared), so it takes an explicit yes.
        allow_embedded = _flag(env, "GATEWAY_ALLOW_EMBEDDED_REDIS")
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
            secret_key=_secret_key(env),
            secret_key_fallbacks=_secret_key_fallbacks(env),
            keyring=_keyring(env),
            redis_url=redis_url,
            data_dir=data_dir,
            ca_bundle=_existing_file(env, "GATEWAY_CA_BUNDLE"),
            emulator_url=emulator_url,
            providers=_providers(env, emulator_url, required=not admin_only),
            trusted_hosts=tuple(dict.fromkeys([public_host, *extra_hosts])),
            session_idle_seconds=60 * idle_minutes,
            session_absolute_seconds=3600 * absolute_hours,
            log_level=_choice(
                env, "GATEWAY_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")
            ),
            admins=_admins(env),
            freebusy_ttl_seconds=_int(env, "GATEWAY_FREEBUSY_TTL_SECONDS", 120, 5, 3600),
            freebusy_stale_seconds=_int(env, "GATEWAY_FREEBUSY_STALE_SECONDS", 3600, 0, 86400),
            freebusy_deadline_seconds=_int(env, "GATEWAY_FREEBUSY_DEADLINE_SECONDS", 8, 1, 25),
            breaker_failures=_int(env, "GATEWAY_BREAKER_FAILURES", 5, 2, 100),
            freebusy_cold_deadline_seconds=_int(
                env, "GATEWAY_FREEBUSY_COLD_DEADLINE_SECONDS", 3, 1, 25
            ),
            breaker_cool_down_seconds=_int(env, "GATEWAY_BREAKER_COOL_DOWN_SECONDS", 30, 1, 600),
            breaker_slow_calls=_int(env, "GATEWAY_BREAKER_SLOW_CALLS", 5, 2, 100),
            breaker_slow_seconds=_int(env, "GATEWAY_BREAKER_SLOW_SECONDS", 2, 1, 25),
            disk_scrub_seconds=_int(env, "GATEWAY_DISK_SCRUB_SECONDS", 60, 2, 3600),
            tombstone_dir=Path(env["GATEWAY_TOMBSTONE_DIR"])
            if env.get("GATEWAY_TOMBSTONE_DIR")
            else None,
            admin_email_domain=_admin_domain(env),
            error_log_interval_seconds=_int(env, "GATEWAY_ERROR_LOG_INTERVAL_SECONDS", 10, 1, 3600),
            smtp_url=_smtp_url(env),
            smtp_from=_smtp_from(env, public_host),
            otel_enabled=_flag(env, "GATEWAY_OTEL_ENABLED"),
            freebusy_watched_ttl_seconds=_int(
                env, "GATEWAY_FREEBUSY_WATCHED_TTL_SECONDS", 3600, 5, 86400
            ),
            change_check_seconds=_int(env, "GATEWAY_CHANGE_CHECK_SECONDS", 60, 60, 3600),
        )


def _reject_unknown(env: Mapping[str, str]) -> None:
    for name in sorted(env):
        if name in KNOWN_VARIABLES or registry.owns_variable(name):
            continue
        guess = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        raise ConfigError(f"{name} is not a known setting{hint}")


def _trusted_hosts(env: Mapping[str, str]) -> list[str]:
    """Host names only: Werkzeug compares them with the Host header's name, so a URL, a
    port or `*` would never match (or, were it honoured, admit any host)."""
    hosts = [h.strip().lower() for h in env.get("GATEWAY_TRUSTED_HOSTS", "").split(",")]
    for host in (h for h in hosts if h):
        if not HOST_NAME.fullmatch(host) and not _is_ip(host):
            raise ConfigError(
                "GATEWAY_TRUSTED_HOSTS must list host names such as gw.example.org (no scheme, "
                f"port, path or wildcard; .example.org admits its subdomains), got {host!r}"
            )
    return [h for h in hosts if h]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "")
    if raw not in ("", "0", "1"):
        raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")
    return raw == "1"


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a whole number from {low} to {high}, got {raw!r}"
        ) from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).upper()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {env.get(name)!r}")
    return value


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _public_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "GATEWAY_PUBLIC_URL must be an http(s) URL such as https://gw.example, "
            f"got {redact_url(raw)!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("GATEWAY_PUBLIC_URL must be an origin with no path, query or fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError("GATEWAY_PUBLIC_URL must use https unless its host is a loopback address")
    return f"{parts.scheme}://{parts.netloc}"


def _https_url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"{name} must be an https URL, got {redact_url(raw)!r}")
    return raw.rstrip("/")


def _secret_key(env: Mapping[str, str]) -> str:
    value = env.get("GATEWAY_SECRET_KEY", "")
    if not value:
        raise ConfigError(
            "GATEWAY_SECRET_KEY is missing: set it to a random string of at least 32 characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if len(value) < 32:
        raise ConfigError("GATEWAY_SECRET_KEY is too short: use at least 32 random characters")
    return value


def _secret_key_fallbacks(env: Mapping[str, str]) -> tuple[str, ...]:
    """Older secret keys, newest first, comma-separated: accepted, never used to seal."""
    found = tuple(k.strip() for k in env.get("GATEWAY_SECRET_KEY_FALLBACKS", "").split(","))
    found = tuple(k for k in found if k)
    if any(len(k) < 32 for k in found):
        raise ConfigError("GATEWAY_SECRET_KEY_FALLBACKS: each key needs at least 32 characters")
    return found


EMAIL = re.compile(r"[^@\s,:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def _admins(env: Mapping[str, str]) -> frozenset[str]:
    """`provider:subject` entries as given; e-mail addresses (no colon) lower-cased."""
    entries = {e.strip() for e in env.get("GATEWAY_ADMINS", "").split(",") if e.strip()}
    found = set()
    for entry in entries:
        if ":" not in entry and EMAIL.fullmatch(entry):
            found.add(entry.lower())
            continue
        provider, _, subject = entry.partition(":")
        if not provider or not subject:
            raise ConfigError(
                "GATEWAY_ADMINS entries must be provider:subject (the provider's name, then the "
                "subject it signs people in with, as the account page shows it) or a verified "
                f"e-mail address, got {entry!r}"
            )
        found.add(entry)
    return frozenset(found)


def _smtp_url(env: Mapping[str, str]) -> str | None:
    """smtp://[user:password@]host[:port] (STARTTLS, 587) or smtps:// (implicit TLS, 465)."""
    raw = env.get("GATEWAY_SMTP_URL")
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
        raise ConfigError(
            "GATEWAY_SMTP_URL must be smtp://{user}:{password}@host:port (STARTTLS) or smtps://... "
            f"(implicit TLS), got {redact_url(raw)!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("GATEWAY_SMTP_URL must have no path, query or fragment")
    return raw


def _smtp_from(env: Mapping[str, str], public_host: str) -> str:
    raw = env.get("GATEWAY_SMTP_FROM") or f"consent-gateway@{public_host or 'localhost'}"
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", raw):
        raise ConfigError(f"GATEWAY_SMTP_FROM must be an e-mail address, got {raw!r}")
    return raw


def _admin_domain(env: Mapping[str, str]) -> str | None:
    raw = env.get("GATEWAY_ADMIN_EMAIL_DOMAIN", "").strip().lower().lstrip("@")
    if not raw:
        return None
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", raw):
        raise ConfigError(f"GATEWAY_ADMIN_EMAIL_DOMAIN must be a domain name, got {raw!r}")
    return raw


def _keyring(env: Mapping[str, str]) -> KeyRing:
    try:
        return KeyRing.parse(env.get("GATEWAY_ENCRYPTION_KEYS", ""))
    except KeyRingError as error:
        raise ConfigError(str(error)) from None


def _redis_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("GATEWAY_REDIS_URL")
    if not raw:
        return None
    try:
        redis_client.parse(raw)
    except redis_client.RedisUrlError as error:
        raise ConfigError(str(error)) from None
    return raw


def _existing_file(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    if not Path(raw).is_file():
        raise ConfigError(f"{name} names a file that does not exist: {raw}")
    return raw


def _providers(
    env: Mapping[str, str], emulator_url: str | None, *, required: bool = True
) -> tuple[ProviderConfig, ...]:
    """Each provider reads its own variables, as its module declares them."""
    emulator_client: tuple[str, str] | None = None
    if emulator_url is not None:
        from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

        emulator_client = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    try:
        providers = registry.configure(env, emulator_url, emulator_client)
    except SettingError as error:
        raise ConfigError(str(error)) from None
    signs_in = [p for p in providers if registry.spec(p.kind).capabilities.sign_in]
    if not signs_in and required:
        raise ConfigError(
            f"no sign-in provider is configured: set {registry.enable_hints()}, "
            "or GATEWAY_EMULATOR_URL"
        )
    return providers

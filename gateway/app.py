"""The app factory: configuration in, a wired Flask app out."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from connectors.registry import Registry
from gateway import local, metrics
from gateway.cli import register_cli
from gateway.cli_errors import for_cli
from gateway.config import Settings
from gateway.context import Services
from gateway.context import services as app_services
from gateway.crypto.receipt_keys import JWKS_PATH
from gateway.crypto.receipts import ReceiptSigner
from gateway.crypto.vault import Vault
from gateway.errors import register_error_handlers
from gateway.limits import init_limits
from gateway.metrics import init_metrics
from gateway.request_log import init_request_log
from gateway.security import install_body_limit, install_host_check, install_security_headers
from gateway.services import purposes
from gateway.services.admin_directory import AdminDirectory
from gateway.services.api_clients import ApiClientService
from gateway.services.breaker import CircuitBreaker
from gateway.services.change_checks import ChangeChecks, CheckedVersions, either
from gateway.services.connection_health import ConnectionHealth
from gateway.services.consent import ConsentService
from gateway.services.disk_scrub import DiskScrub
from gateway.services.freebusy import FreeBusyService
from gateway.services.grants import GrantEndings, GrantService
from gateway.services.key_rotation import KeyRotation
from gateway.services.mailer import Mailer
from gateway.services.privacy import PrivacyService
from gateway.services.receipts import ReceiptService
from gateway.services.retention import Limits, Retention
from gateway.services.revocation import RevocationService
from gateway.services.rooms import RoomService
from gateway.services.signin import SignInService
from gateway.services.tombstones import Tombstones
from gateway.services.watch_notices import WatchNotices
from gateway.services.watches import WatchService
from gateway.storage import answers, keys
from gateway.storage.access_log import AccessLog
from gateway.storage.api_clients import ApiClientStore
from gateway.storage.attempts import AttemptCounter
from gateway.storage.audit import AuditTrail
from gateway.storage.breaker import BreakerStore
from gateway.storage.change_checks import ChangeCheckStore
from gateway.storage.consents import ConsentStore
from gateway.storage.disk_scrub import ScrubStore
from gateway.storage.embedded import EmbeddedRedis
from gateway.storage.erasure import ErasureStore
from gateway.storage.errors import StorageError
from gateway.storage.flows import FlowStore
from gateway.storage.freebusy_cache import FreeBusyCache
from gateway.storage.grants import GrantStore
from gateway.storage.notices import NoticeStore
from gateway.storage.receipt_keys import ReceiptKeyStore
from gateway.storage.receipts import ReceiptStore
from gateway.storage.redis_client import RedisClient, connect
from gateway.storage.restrictions import RestrictionStore
from gateway.storage.rooms import RoomStore
from gateway.storage.sessions import RedisSessionInterface, UserSessions
from gateway.storage.stable_secrets import StableSecrets
from gateway.storage.tombstones import TombstoneLog
from gateway.storage.users import UserStore
from gateway.storage.watches import WatchStore
from gateway.storage.wrapped_keys import WrappedKeyStore
from gateway.tracing_otel import install_tracing
from scopes import load_catalogue

csrf = CSRFProtect()

# Libraries that log request or token details at DEBUG; never let them reach a log.
QUIET_LOGGERS = ("msal", "authlib", "urllib3", "requests_oauthlib")


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the app from `GATEWAY_*` variables (the environment when `config` is None)."""
    if config is None and local.under_flask_cli():  # `flask --app gateway ...`
        # var/ defaults (local.py); Redis down at start is one line too (cli_errors.py)
        return for_cli(lambda: create_app(local.cli_settings(os.environ)))
    settings = config if isinstance(config, Settings) else Settings.from_env(config or os.environ)
    _configure_logging(settings.log_level)
    app = Flask(__name__)
    _configure_flask(app, settings)

    embedded, redis_url = _redis(settings)
    client = connect(redis_url)
    app.session_interface = _session_interface(client, settings)
    csrf.init_app(app)
    app.extensions["gateway"] = build_services(settings, client, embedded)

    register_cli(app)
    app.context_processor(_connection_health)
    _add_template_filters(app)
    # A request or CLI command that changed free/busy answers ends only once no worker can
    # still serve the old ones (storage/answers.py).
    app.teardown_appcontext(_settle_answers)
    _register_blueprints(app)
    _install_request_guards(app, settings, redis_url)
    install_tracing(app, settings.otel_enabled)  # after the request log: it agrees with it
    return app


def _configure_flask(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SECRET_KEY_FALLBACKS=list(settings.secret_key_fallbacks),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        MAX_FORM_MEMORY_SIZE=settings.max_content_length,
        TRUSTED_HOSTS=list(settings.trusted_hosts),
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PREFERRED_URL_SCHEME="https" if settings.secure_cookies else "http",
        JSON_SORT_KEYS=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives and dies with the server-side session
        # Flask-WTF's https Referer check cannot pass: every page says `Referrer-Policy:
        # no-referrer` (RFC 9700 §4.2), so browsers send no Referer. The session-bound CSRF
        # token and the SameSite=Lax cookie are the defence (tests/security/test_cookies.py).
        WTF_CSRF_SSL_STRICT=False,
    )


def _redis(settings: Settings) -> tuple[EmbeddedRedis | None, str]:
    """The configured Redis, or an embedded one started for this app."""
    if settings.redis_url is not None:
        return None, settings.redis_url
    embedded = EmbeddedRedis(settings.data_dir / "redis").start()
    return embedded, embedded.url


def _session_interface(client: RedisClient, settings: Settings) -> RedisSessionInterface:
    return RedisSessionInterface(
        client,
        cookie_name="__Host-gw_session" if settings.secure_cookies else "gw_session",
        idle_seconds=settings.session_idle_seconds,
        absolute_seconds=settings.session_absolute_seconds,
    )


def build_services(
    settings: Settings, client: RedisClient, embedded: EmbeddedRedis | None = None
) -> Services:
    """Every service, each given its collaborators in its constructor: the stores first,
    then each service after the ones it calls."""
    catalogue = load_catalogue()
    connectors = Registry(settings.providers, settings.ca_bundle)
    kinds = purposes.provider_kinds(settings)
    vault = Vault(settings.keyring)
    metrics.keyring_newest(settings.keyring.newest)
    # keyed hashes that must outlive a rotation of the secret key (storage/stable_secrets.py)
    stable = StableSecrets(client, vault)
    lasting = _lasting_secret(stable, settings)
    # receipts: Ed25519 under the deployment's published keys (storage/receipt_keys.py)
    signer = ReceiptSigner(
        lasting, ReceiptKeyStore(client, stable), jwks_url=settings.public_url + JWKS_PATH
    )
    audit = AuditTrail(client, lasting, catalogue.audit_actions)
    users = UserStore(client, vault, lasting)
    grant_store = GrantStore(client)
    api_clients = ApiClientStore(client, lasting)
    access_log = AccessLog(client)
    # erased and revoked data leaves Redis's disk within the bound, whoever dies meanwhile
    disk_scrub = DiskScrub(ScrubStore(client), settings.disk_scrub_seconds)
    grant_endings = GrantEndings()  # in-process caches of an ended grant drop it
    grant_losses = GrantEndings()  # a grant ended without its owner: its host is told
    grant_closing = GrantEndings()  # a grant about to end: its provider channels close

    account_mark = _account_marker(lasting)
    grants = GrantService(
        grant_store,
        vault,
        connectors,
        purposes.missing_scopes_checker(settings),
        audit,
        scrub=disk_scrub.request,
        endings=grant_endings,
        losses=grant_losses,
        account_mark=account_mark,
    )
    rooms = RoomService(RoomStore(client), grants, kinds, audit, account_mark=account_mark)
    revocation = RevocationService(
        grant_store,
        ReceiptStore(client),
        grants,
        connectors,
        audit,
        signer,
        scrub=disk_scrub.request,
        unbind=[rooms.unbind_grant],
        tombstones=Tombstones(TombstoneLog(_tombstone_dir(settings))),
        closing=grant_closing,
    )
    consent = ConsentService(
        catalogue,
        ConsentStore(client),
        grants,
        revocation,
        connectors,
        kinds,
        audit,
        AttemptCounter(client),
        rebind=[rooms.rebind_grant],
    )
    signin = SignInService(
        connectors,
        FlowStore(client),
        users,
        settings.redirect_uri,
        settings.identity_marks,
        secret_key=settings.secret_key,
        secret_key_fallbacks=settings.secret_key_fallbacks,
        audit=audit,
        sessions=UserSessions(client),
        on_grant=consent.on_authorized,
    )
    privacy = PrivacyService(
        RestrictionStore(client),
        ErasureStore(client),
        UserSessions(client),
        users,
        grants,
        revocation,
        consent,
        rooms,
        audit,
        access_log,
        signer,
        catalogue,
    )
    # provider channels on bound calendars: a change re-reads its days at once (watches.py)
    watches = WatchService(
        WatchStore(client),
        grants,
        rooms,
        connectors.calendars(),
        _stable_secret(stable, "watch-channel-secret"),
        settings.public_url,
        closing=grant_closing,
        cache=FreeBusyCache(client),
    )
    # CalDAV and ICS versions, checked on a short interval (change_checks.py)
    versions = CheckedVersions(
        ChangeCheckStore(client), watches.calendar_mark, settings.change_check_seconds
    )
    freebusy = FreeBusyService(
        rooms,
        grants,
        FreeBusyCache(client),
        connectors.calendars(),
        ttl_seconds=settings.freebusy_ttl_seconds,
        stale_seconds=settings.freebusy_stale_seconds,
        deadline_seconds=settings.freebusy_deadline_seconds,
        cold_deadline_seconds=settings.freebusy_cold_deadline_seconds,
        restricted_among=privacy.restricted_among,
        record_access=access_log.record,
        breaker=CircuitBreaker(
            BreakerStore(client),
            threshold=settings.breaker_failures,
            cool_down_seconds=settings.breaker_cool_down_seconds,
            slow_calls=settings.breaker_slow_calls,
            slow_seconds=settings.breaker_slow_seconds,
        ),
        grant_endings=grant_endings,
        watched_ttl_seconds=settings.freebusy_watched_ttl_seconds,
        lasting=either(watches.days.lasting, versions.lasting),
    )
    # a notification: checked, then its calendar read again, debounced (watch_notices.py)
    notices = WatchNotices(WatchStore(client), watches, freebusy)
    change_checks = ChangeChecks(
        versions,
        grants,
        rooms,
        connectors.calendars(),
        freebusy,
        restricted_among=privacy.restricted_among,
        closing=grant_closing,
    )
    health = ConnectionHealth(
        grants,
        rooms,
        users,
        NoticeStore(client),
        Mailer(settings.smtp_url, settings.smtp_from, settings.ca_bundle)
        if settings.smtp_url
        else None,
        settings.public_url,
        {name: c.title for name, c in connectors.items()},
        idle_after=Limits.of(catalogue).grant_idle,
    )
    clients = ApiClientService(api_clients, audit)
    grant_losses.subscribe(health.grant_lost)  # the host is told, once per ending
    disk_scrub.check_persistence()
    # each poll also finishes the revocations Redis refused at its memory limit (the other
    # background jobs run in the worker process: gateway/worker.py)
    atexit.register(disk_scrub.start(tasks=[revocation.finish_unfinished]).stop)
    return Services(
        settings=settings,
        redis=client,
        signin=signin,
        users=users,
        vault=vault,
        grants=grants,
        revocation=revocation,
        consent=consent,
        rooms=rooms,
        freebusy=freebusy,
        api_clients=api_clients,
        clients=clients,
        audit=audit,
        privacy=privacy,
        key_rotation=KeyRotation(WrappedKeyStore(client), vault, audit),
        retention=Retention(grant_store, ConsentStore(client), revocation, audit, catalogue),
        receipts=ReceiptService(signer, revocation, access_log, rooms, clients),
        directory=AdminDirectory(
            rooms, users, grants, clients, audit, restricted_among=privacy.restricted_among
        ),
        embedded_redis=embedded,
        disk_scrub=disk_scrub,
        health=health,
        watches=watches,
        watch_notices=notices,
        change_checks=change_checks,
    )


def _tombstone_dir(settings: Settings) -> Path:
    """Where tombstones go: a restore of an older backup cannot bring back what was revoked
    or erased since (services/tombstones.py)."""
    tombstone_dir = settings.tombstone_dir or settings.data_dir / "tombstones"
    if settings.tombstone_dir is None and settings.public_url.startswith("https://"):
        logging.getLogger(__name__).warning(
            "GATEWAY_TOMBSTONE_DIR is not set: tombstones go to %s, which must survive the pod "
            "and never be restored with Redis (deploy/RESTORE.md)",
            tombstone_dir,
        )
    return tombstone_dir


def _add_template_filters(app: Flask) -> None:
    app.add_template_filter(_datetime, "datetime")
    app.add_template_filter(_datetime_seconds, "datetime_seconds")


def _register_blueprints(app: Flask) -> None:
    from gateway.blueprints.admin import admin
    from gateway.blueprints.admin_clients import admin_clients
    from gateway.blueprints.admin_lists import admin_lists
    from gateway.blueprints.admin_room_form import admin_room_form
    from gateway.blueprints.admin_rooms import admin_rooms
    from gateway.blueprints.api import api
    from gateway.blueprints.api_v1 import api_v1
    from gateway.blueprints.auth import auth
    from gateway.blueprints.availability import availability
    from gateway.blueprints.consent import consent
    from gateway.blueprints.pages import pages
    from gateway.blueprints.privacy import privacy
    from gateway.blueprints.register import register
    from gateway.blueprints.rooms import rooms
    from gateway.blueprints.webhooks import webhooks
    from gateway.blueprints.well_known import well_known

    app.register_blueprint(pages)
    app.register_blueprint(auth)
    app.register_blueprint(api)
    app.register_blueprint(register)
    app.register_blueprint(consent)
    app.register_blueprint(rooms)
    app.register_blueprint(admin_rooms)
    app.register_blueprint(admin)
    app.register_blueprint(admin_lists)
    app.register_blueprint(admin_room_form)
    app.register_blueprint(admin_clients)
    app.register_blueprint(availability)
    app.register_blueprint(privacy)
    app.register_blueprint(api_v1)
    app.register_blueprint(well_known)
    app.register_blueprint(webhooks)
    csrf.exempt(webhooks)  # providers post notifications; each is checked by its secret
    csrf.exempt(api_v1)  # it checks CSRF itself for session callers, not for Bearer ones
    csrf.exempt("gateway.blueprints.auth.form_post_callback")
    # sends back a receipt only if this gateway signed it, changes nothing, reads no session
    # (the erased page's, whose session is gone): nothing a forged request could abuse
    csrf.exempt("gateway.blueprints.privacy.download_shown_receipt")


def _install_request_guards(app: Flask, settings: Settings, redis_url: str) -> None:
    """The checks around every request, in the order they wrap it."""
    from gateway.blueprints.api_v1 import PUBLIC_ENDPOINTS, api_v1, request_caller

    # before the limiter: a request whose session store failed is refused at once, without
    # the limiter first waiting for the same Redis
    register_error_handlers(app, interval_seconds=settings.error_log_interval_seconds)
    install_host_check(app)
    init_limits(
        app, redis_url, limited=api_v1, public_endpoints=PUBLIC_ENDPOINTS, caller=request_caller
    )
    install_security_headers(app, https=settings.secure_cookies)
    install_body_limit(app, settings.max_content_length)  # innermost WSGI wrapper
    init_request_log(app)
    init_metrics(app)  # last: outermost, so a scrape is neither logged nor counted


def _lasting_secret(stable: StableSecrets, settings: Settings) -> Callable[[], str]:
    """The secret of API client hashes, receipts, pseudonyms and subject names: stored once
    (from the oldest configured secret key, so what was computed before still matches) and
    read from Redis on first use, since the gateway starts while Redis is down."""
    lock = threading.Lock()
    found: list[str] = []

    def read() -> str:
        with lock:
            if not found:
                initial = settings.oldest_secret_key.encode()
                found.append(stable.get("lasting-secret", initial).decode())
            return found[0]

    return read


def _stable_secret(stable: StableSecrets, name: str) -> Callable[[], bytes]:
    """A random secret stored once under `name`, read from Redis on first use."""
    lock = threading.Lock()
    found: list[bytes] = []

    def read() -> bytes:
        with lock:
            if not found:
                found.append(stable.get(name, secrets.token_bytes(32)))
            return found[0]

    return read


def _account_marker(secret: Callable[[], str]) -> Callable[[str, str], str]:
    """Keyed hashes of provider accounts (the subject names' key: storage/keys.py), under
    the secret that outlives a secret-key rotation, so a kept binding still recognises its
    account after one."""

    def mark(provider: str, subject: str) -> str:
        return keys.subject_digest(keys.subject_key(secret()), f"{provider}|{subject}")

    return mark


def _connection_health() -> dict[str, object]:
    """What the banner on every page needs (templates/_connection_health.html)."""
    from flask import session

    uid = session.get("uid")
    if not uid:
        return {"reconnect_needed": []}
    try:
        return {"reconnect_needed": app_services().health.needing_reconnect(str(uid))}
    except StorageError:  # an error page while Redis is down must still render
        return {"reconnect_needed": []}


def _settle_answers(_error: BaseException | None) -> None:
    answers.settle()


def _datetime(timestamp: float) -> str:
    if not timestamp:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _datetime_seconds(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway").setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)

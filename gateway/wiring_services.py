"""Every service of the gateway, built from settings and a Redis client: the stores first,
then each service after the ones it calls, each given its collaborators in its constructor."""

from __future__ import annotations

import atexit
import logging
from pathlib import Path

from connectors.outbound_guard import Allowlist, OutboundGuard
from connectors.registry import Registry
from gateway import metrics
from gateway.config import Settings
from gateway.context import Services
from gateway.crypto.receipt_keys import JWKS_PATH
from gateway.crypto.receipts import ReceiptSigner
from gateway.crypto.vault import Vault
from gateway.services import purposes
from gateway.services.admin_directory import AdminDirectory
from gateway.services.api_clients import ApiClientService
from gateway.services.breaker import CircuitBreaker
from gateway.services.change_checks import ChangeChecks, CheckedVersions, either
from gateway.services.change_feed import ChangeFeed
from gateway.services.change_feed_delivery import Deliverer
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
from gateway.storage.flows import FlowStore
from gateway.storage.freebusy_cache import FreeBusyCache
from gateway.storage.grants import GrantStore
from gateway.storage.notices import NoticeStore
from gateway.storage.receipt_keys import ReceiptKeyStore
from gateway.storage.receipts import ReceiptStore
from gateway.storage.redis_client import RedisClient
from gateway.storage.restrictions import RestrictionStore
from gateway.storage.rooms import RoomStore
from gateway.storage.sessions import UserSessions
from gateway.storage.stable_secrets import StableSecrets
from gateway.storage.tombstones import TombstoneLog
from gateway.storage.users import UserStore
from gateway.storage.watches import WatchStore
from gateway.storage.webhook_endpoints import WebhookEndpointStore
from gateway.storage.webhook_queue import WebhookQueue
from gateway.storage.wrapped_keys import WrappedKeyStore
from gateway.wiring_secrets import account_marker, lasting_secret, stable_secret
from scopes import load_catalogue


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
    lasting = lasting_secret(stable, settings)
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

    account_mark = account_marker(lasting)
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
    clients = ApiClientService(api_clients, audit)
    # API clients' webhooks: rooms' changes as signed events, sent by the worker
    guard = OutboundGuard(Allowlist.parse(settings.outbound_allowlist))
    endpoints = WebhookEndpointStore(client, vault)
    feed = ChangeFeed(endpoints, clients, rooms, guard, WebhookQueue(client), audit, grants)
    grant_losses.subscribe(feed.grant_lost)  # its rooms need their host again
    rooms.on_room_calendars_changed(feed.room_calendars_changed)  # bound, unbound by hand
    revocation = RevocationService(
        grant_store,
        ReceiptStore(client),
        grants,
        connectors,
        audit,
        signer,
        scrub=disk_scrub.request,
        unbind=[feed.unbinding(rooms.unbind_grant)],
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
        rebind=[feed.rebinding(rooms.rebind_grant)],
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
        restricted=feed.restriction_changed,
    )
    # provider channels on bound calendars: a change re-reads its days at once (watches.py)
    watches = WatchService(
        WatchStore(client),
        grants,
        rooms,
        connectors.calendars(),
        stable_secret(stable, "watch-channel-secret"),
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
        lasting=either(watches.days, versions),
        changed=feed.calendar_changed,
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
        change_feed=feed,
        webhook_deliverer=Deliverer(endpoints, clients, guard, settings.ca_bundle),
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

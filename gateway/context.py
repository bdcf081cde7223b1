"""What the app holds for the length of its life, and how blueprints reach it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from gateway.config import Settings
from gateway.crypto.vault import Vault
from gateway.services.admin_directory import AdminDirectory
from gateway.services.api_clients import ApiClientService
from gateway.services.consent import ConsentService
from gateway.services.freebusy import FreeBusyService
from gateway.services.grants import GrantService
from gateway.services.key_rotation import KeyRotation
from gateway.services.privacy import PrivacyService
from gateway.services.receipts import ReceiptService
from gateway.services.retention import Retention
from gateway.services.revocation import RevocationService
from gateway.services.rooms import RoomService
from gateway.services.signin import SignInService
from gateway.storage.api_clients import ApiClientStore
from gateway.storage.audit import AuditTrail
from gateway.storage.redis_client import RedisClient, answers
from gateway.storage.users import UserStore


@dataclass
class Services:
    settings: Settings
    redis: RedisClient  # for the tests and the factory; services hold their stores
    signin: SignInService
    users: UserStore
    vault: Vault
    grants: GrantService
    revocation: RevocationService
    consent: ConsentService
    rooms: RoomService
    freebusy: FreeBusyService
    api_clients: ApiClientStore  # the tests' way in; callers use `clients`
    clients: ApiClientService
    audit: AuditTrail
    privacy: PrivacyService
    key_rotation: KeyRotation
    retention: Retention
    receipts: ReceiptService  # receipts as people read and check them, room access
    directory: AdminDirectory  # the admin console's lists
    embedded_redis: Any = None
    disk_scrub: Any = None  # services/disk_scrub.py
    health: Any = None  # services/connection_health.py
    watches: Any = None  # services/watches.py: provider channels on bound calendars
    watch_notices: Any = None  # services/watch_notices.py: what a notification does
    change_checks: Any = None  # services/change_checks.py: CalDAV / ICS versions checked
    change_feed: Any = None  # services/change_feed.py: API clients' webhooks, their events
    webhook_deliverer: Any = None  # services/change_feed_delivery.py: the worker's sender

    def storage_answers(self) -> bool:
        """Does the storage answer now (the readiness probe)?"""
        return answers(self.redis)


def services() -> Services:
    found: Services = current_app.extensions["gateway"]
    return found

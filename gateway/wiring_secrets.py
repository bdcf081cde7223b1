"""Secrets the services share that must outlive a process or a secret-key rotation, each
read from Redis on first use (storage/stable_secrets.py), since the gateway starts while
Redis is down."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from gateway.config import Settings
from gateway.storage import keys
from gateway.storage.stable_secrets import StableSecrets


def lasting_secret(stable: StableSecrets, settings: Settings) -> Callable[[], str]:
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


def stable_secret(stable: StableSecrets, name: str) -> Callable[[], bytes]:
    """A random secret stored once under `name`, read from Redis on first use."""
    lock = threading.Lock()
    found: list[bytes] = []

    def read() -> bytes:
        with lock:
            if not found:
                found.append(stable.get(name, secrets.token_bytes(32)))
            return found[0]

    return read


def account_marker(secret: Callable[[], str]) -> Callable[[str, str], str]:
    """Keyed hashes of provider accounts (the subject names' key: storage/keys.py), under
    the secret that outlives a secret-key rotation, so a kept binding still recognises its
    account after one."""

    def mark(provider: str, subject: str) -> str:
        return keys.subject_digest(keys.subject_key(secret()), f"{provider}|{subject}")

    return mark

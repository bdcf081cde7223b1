"""The gateway's secrets: the secret key (and the ones a rotation replaced) and the
encryption keys that seal provider credentials (gateway/crypto/keyring.py)."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config_values import ConfigError
from gateway.crypto.keyring import KeyRing, KeyRingError


def secret_key(env: Mapping[str, str]) -> str:
    value = env.get("GATEWAY_SECRET_KEY", "")
    if not value:
        raise ConfigError(
            "GATEWAY_SECRET_KEY is missing: set it to a random string of at least 32 characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if len(value) < 32:
        raise ConfigError("GATEWAY_SECRET_KEY is too short: use at least 32 random characters")
    return value


def secret_key_fallbacks(env: Mapping[str, str]) -> tuple[str, ...]:
    """Older secret keys, newest first, comma-separated: accepted, never used to seal."""
    found = tuple(k.strip() for k in env.get("GATEWAY_SECRET_KEY_FALLBACKS", "").split(","))
    found = tuple(k for k in found if k)
    if any(len(k) < 32 for k in found):
        raise ConfigError("GATEWAY_SECRET_KEY_FALLBACKS: each key needs at least 32 characters")
    return found


def keyring(env: Mapping[str, str]) -> KeyRing:
    try:
        return KeyRing.parse(env.get("GATEWAY_ENCRYPTION_KEYS", ""))
    except KeyRingError as error:
        raise ConfigError(str(error)) from None

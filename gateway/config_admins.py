"""Who is an admin: GATEWAY_ADMINS and GATEWAY_ADMIN_EMAIL_DOMAIN, read and asked.

`AdminRules` is the part of `Settings` (gateway/config.py) that answers "is this person an
admin, now?", kept here beside the parsing of the entries it compares against.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from functools import cached_property

from gateway.config_values import ConfigError

EMAIL = re.compile(r"[^@\s,:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


class AdminRules:
    """Admin questions answered from the settings' own fields (declared on `Settings`)."""

    admins: frozenset[str]
    admin_email_domain: str | None
    secret_key: str
    secret_key_fallbacks: tuple[str, ...]

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


def admins(env: Mapping[str, str]) -> frozenset[str]:
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


def admin_domain(env: Mapping[str, str]) -> str | None:
    raw = env.get("GATEWAY_ADMIN_EMAIL_DOMAIN", "").strip().lower().lstrip("@")
    if not raw:
        return None
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", raw):
        raise ConfigError(f"GATEWAY_ADMIN_EMAIL_DOMAIN must be a domain name, got {raw!r}")
    return raw

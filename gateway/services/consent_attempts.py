"""How often a person may try a typed credential (an app password, a feed address).

A form that checks a password with a third-party server at once is a wrong-password oracle
against that server, and a way to make the gateway knock on any host: attempts are counted
per person, and failures per target host, in `AttemptCounter` (storage). Kept apart from
`consent` so the limits read in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from connectors.capabilities import CredentialField
from gateway.request_log import security_event
from gateway.services.consent_offers import ConsentError
from gateway.storage.attempts import AttemptCounter

ATTEMPT_WINDOW_SECONDS = 900
ATTEMPTS_PER_PERSON = 10
FAILURES_PER_HOST = 20


class TypedAttempts:
    """The limits on typed credentials; no limit at all without a counter."""

    def __init__(self, attempts: AttemptCounter | None) -> None:
        self.attempts = attempts

    def admit(self, uid: str, host: str, provider: str) -> None:
        """Count this attempt; refuse it (429) past either limit."""
        if self.attempts is None:
            return
        mine = self.attempts.add("person", uid, ATTEMPT_WINDOW_SECONDS)
        failed = self.attempts.count("host", host) if host else 0
        if mine > ATTEMPTS_PER_PERSON or failed >= FAILURES_PER_HOST:
            security_event("consent.give", "limited", actor=uid, subject=uid, provider=provider)
            raise ConsentError(
                "too_many_attempts",
                "Too many attempts to connect a calendar. Try again in 15 minutes.",
                429,
            )

    def failed(self, host: str) -> None:
        """The provider refused the credential: one more failure against `host`."""
        if self.attempts is not None and host:
            self.attempts.add("host", host, ATTEMPT_WINDOW_SECONDS)


def target_host(fields: tuple[CredentialField, ...], typed: Mapping[str, str]) -> str:
    """The host of the form's URL field (what the attempts per target host count)."""
    for field in fields:
        if field.input_type == "url":
            raw = typed.get(field.name, "").strip()
            try:
                return (urlsplit(raw if "://" in raw else f"https://{raw}").hostname or "").lower()
            except ValueError:
                return ""
    return ""

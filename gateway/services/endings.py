"""How an ended grant is explained to its owner: who ended it, why, and what is left to do
at the provider.

A grant's record keeps the reason it ended (storage/grants.py), written by one of a known
few places: its owner (disconnect, withdrawal, a new consent, erasure), the provider
(invalid_grant, a refused token or scope: services/grants.py), the gateway itself
(unreadable tokens, the retention sweep) or an administrator, whose reason is their own
words. The owner's and the gateway's reasons are fixed sentences, so anything else a
revoked grant carries is an administrator's.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.services.consent import DISCONNECTED
from gateway.storage.grants import ACTIVE, BROKEN, NEEDS_CONSENT

YOU, ADMIN, PROVIDER, GATEWAY = "you", "an administrator", "the provider", "the gateway"

BY_OWNER = (DISCONNECTED, "consent withdrawn", "replaced", "account erased")
BY_PROVIDER = ("The provider ", "Consent to this calendar was withdrawn")
BY_GATEWAY = ("Its stored tokens were unreadable", "Unused for a long time")


def at_provider(title: str, can_revoke: bool) -> str:
    """What is left to do at the provider once the gateway has ended its access: where the
    provider has a revocation endpoint it was asked (the person may check); where it has
    none (connectors' `capabilities.can_revoke`), only the person can remove the app."""
    if can_revoke:
        return (
            f"{title} was asked to revoke the gateway's access. You can check, or remove it "
            f"yourself, among the apps with access in your {title} account's security settings."
        )
    return (
        f"{title} offers no way for the gateway to give the access back: remove the app "
        f"yourself among the apps with access in your {title} account's settings."
    )


@dataclass(frozen=True)
class Ending:
    by: str  # YOU, ADMIN, PROVIDER or GATEWAY
    reason: str
    at_provider: str
    next_step: str


def who_ended(status: str, reason: str) -> str:
    if status == NEEDS_CONSENT or reason.startswith(BY_PROVIDER):
        return PROVIDER
    if reason in BY_OWNER:
        return YOU
    if status == BROKEN or reason.startswith(BY_GATEWAY):
        return GATEWAY
    return ADMIN


def explain(status: str, reason: str, title: str, can_revoke: bool) -> Ending | None:
    """None for a grant that is in force."""
    if status == ACTIVE:
        return None
    by = who_ended(status, reason)
    if by == PROVIDER:
        next_step = "Connect the calendar again to restore it; until then its rooms show "
        next_step += "that the host must reconnect."
    elif by == YOU:
        next_step = "Nothing: it ended as you asked. Connect again whenever you want."
    elif by == ADMIN:
        next_step = "Ask your administrator if the reason is unclear; you may connect again."
    else:
        next_step = "Connect the calendar again to restore it."
    return Ending(
        by=by,
        reason=reason,
        at_provider=at_provider(title, can_revoke),
        next_step=next_step,
    )

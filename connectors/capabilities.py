"""What a provider can do, as data: its capability flags and the fields of a typed credential.

The gateway asks these instead of a provider's kind (`Connector.capabilities`,
`Connector.credential_fields`), so `gateway/` never names one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

# How a host names the calendar behind a room: picked from `list_calendars` ("listed"), or
# typed as a mailbox address the free/busy call takes (Graph's getSchedule: "mailbox").
Addressing = Literal["listed", "mailbox", "none"]
# What a grant of this provider holds: OAuth tokens, an app password, a secret feed URL.
Credential = Literal["oauth_token", "app_password", "feed_url", "none"]
# How the provider tells of a change in a calendar: not at all (the gateway polls), by
# posting to the gateway's webhook on a channel the gateway opened for that calendar, or
# by a cheap version the gateway checks on a short interval ("check": `change_token`).
WatchKind = Literal["none", "channel", "check"]


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, so that the gateway asks this instead of its kind.

    `batch_size` calendars go into one free/busy call, over at most `window_limit`;
    `can_revoke`: the provider has a revocation endpoint (else the person is told where to
    remove the app); `sign_in`: it signs people in; `calendars`: it backs rooms.
    `watch`: how it tells of changes ("channel": `start_watch` and friends work), and
    `watch_scopes`: a grant holding any one of these may open a channel (a narrower grant
    is polled), `watch_extends`: an open channel can be extended (`renew_watch`) instead
    of replaced.
    """

    sign_in: bool
    calendars: bool
    credential: Credential = "none"
    can_revoke: bool = False
    batch_size: int = 0
    window_limit: timedelta = timedelta(0)
    addressing: Addressing = "none"
    watch: WatchKind = "none"
    watch_scopes: frozenset[str] = frozenset()
    watch_extends: bool = False

    def can_watch(self, granted: frozenset[str]) -> bool:
        """Whether a grant with `granted` scopes may open a channel on its calendars."""
        return self.watch == "channel" and bool(self.watch_scopes & granted)


SIGN_IN_ONLY = Capabilities(sign_in=True, calendars=False)


@dataclass(frozen=True)
class CredentialField:
    """One field of the consent page's form for a provider whose credential a person types
    (`app_password`, `feed_url`): its form name, label, input type and autocomplete hint.
    `secret`: the value is a credential even though it is not a password field (a feed's
    secret address), so the page never shows it back."""

    name: str
    label: str
    input_type: str = "text"
    autocomplete: str = "off"
    secret: bool = False

"""Which calendar of a grant may back a room: the primary one, or one the host picked.

Another calendar than the primary one needs an active `calendar-choice` grant of the same
provider account (a provider whose credential is an app password lists the calendars of
the room-availability grant itself). A provider that names calendars by mailbox address
lets the host type the room mailbox's address; the others offer their calendar list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors import registry
from connectors.errors import ConnectorError
from connectors.values import CalendarInfo
from gateway.services.grants import GrantService, GrantUnavailable
from gateway.services.room_model import BindingRefused, CalendarListUnavailable, InvalidCalendar
from gateway.storage.grants import GrantRecord

ROOM_AVAILABILITY = "room-availability"
CALENDAR_CHOICE = "calendar-choice"
PRIMARY = "primary"
MAILBOX = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


@dataclass(frozen=True)
class GrantChoice:
    """One grant a host may bind with, and what it lets them pick."""

    grant_id: str
    provider: str
    created: float
    calendars: tuple[CalendarInfo, ...]  # besides the primary one; empty without choice
    by_address: bool  # a mailbox address may be typed in
    problem: str | None = None  # why the list could not be shown
    # a calendar-choice consent would let the host pick another calendar (an OAuth
    # provider); an app password or a feed address already shows all there is
    choice_by_consent: bool = True


class CalendarChoices:
    def __init__(self, grants: GrantService, provider_kinds: Mapping[str, str]) -> None:
        self.grants = grants
        self.provider_kinds = dict(provider_kinds)

    def grant_choices(self, uid: str) -> list[GrantChoice]:
        """The active room-availability grants of `uid`, each with the calendars it may use."""
        records = self.grants.records(uid)
        choices = []
        for record in records:
            if record.purpose != ROOM_AVAILABILITY or not record.usable:
                continue
            chooser = self.choice_grant(record, records)
            calendars: tuple[CalendarInfo, ...] = ()
            problem = None
            by_address = False
            if chooser is not None:
                by_address = self.addressed(record.provider)
                if not by_address:
                    try:
                        listed = self.calendars(chooser)
                        calendars = tuple(c for c in listed if not c.primary)
                    except CalendarListUnavailable as error:
                        problem = error.message
            choices.append(
                GrantChoice(
                    record.id,
                    record.provider,
                    record.created,
                    calendars,
                    by_address,
                    problem,
                    choice_by_consent=self.choice_by_consent(record.provider),
                )
            )
        return choices

    def addressed(self, provider: str) -> bool:
        """A provider whose free/busy call names calendars by mailbox address: its host
        types the room mailbox's address instead of picking from a list."""
        found = registry.capabilities(self.provider_kinds.get(provider))
        return found is not None and found.addressing == "mailbox"

    def choice_by_consent(self, provider: str) -> bool:
        """Whether another calendar of this provider is chosen by giving the calendar-choice
        consent: not for a typed credential (app password, feed address), which has no
        narrower scope and lists whatever it can see itself."""
        found = registry.capabilities(self.provider_kinds.get(provider))
        return found is None or found.credential == "oauth_token"

    def choice_grant(
        self, record: GrantRecord, records: list[GrantRecord] | None = None
    ) -> GrantRecord | None:
        """An active calendar-choice grant of the same provider account as `record`; for a
        provider whose typed credential opens the whole account (an app password: there is
        no narrower scope to ask for), the grant itself lists its calendars."""
        found = registry.capabilities(self.provider_kinds.get(record.provider))
        if found is not None and found.credential == "app_password":
            return record if found.addressing == "listed" and record.usable else None
        candidates = records if records is not None else self.grants.records(record.uid)
        subject = None
        for other in reversed(candidates):  # newest first
            if other.purpose != CALENDAR_CHOICE or not other.usable:
                continue
            if other.provider != record.provider:
                continue
            subject = subject or self.grants.subject(record)
            if subject is not None and self.grants.subject(other) == subject:
                return other
        return None

    def chosen(self, record: GrantRecord, calendar: str) -> dict[str, Any]:
        """What a binding seals of `calendar` ("primary", a listed id or a mailbox)."""
        if calendar == PRIMARY:
            return {"id": PRIMARY, "name": None, "primary": True}
        chooser = self.choice_grant(record)
        if chooser is None:
            raise BindingRefused(
                "choosing a calendar other than your main one needs your consent to "
                "'Choose which calendar backs a room' with the same account"
            )
        if self.addressed(record.provider):
            if len(calendar) > 254 or not MAILBOX.match(calendar):
                raise InvalidCalendar(
                    "the mailbox must be an e-mail address such as room@example.com"
                )
            return {"id": calendar.lower(), "name": calendar.lower(), "primary": False}
        for listed in self.calendars(chooser):
            if listed.id == calendar:
                if listed.primary:
                    return {"id": PRIMARY, "name": None, "primary": True}
                return {"id": listed.id, "name": listed.name, "primary": False}
        raise InvalidCalendar("that calendar is not in your calendar list")

    def calendars(self, chooser: GrantRecord) -> list[CalendarInfo]:
        try:
            listed = self.grants.calendars(chooser)
        except GrantUnavailable:
            raise CalendarListUnavailable(
                "your consent to choose a calendar is no longer active; give it again"
            ) from None
        except ConnectorError:
            raise CalendarListUnavailable(
                "your calendar list could not be loaded; try again later"
            ) from None
        if listed is None:
            raise CalendarListUnavailable("this provider cannot list calendars")
        found: list[CalendarInfo] = listed
        return found

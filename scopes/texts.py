"""The catalogue's parts: the texts and entries a purpose is made of, each validated.

Split from scopes/catalogue.py, which assembles them into purposes and the catalogue; both
modules' names are importable from `scopes`. An empty string anywhere is an error (`Text`),
and a provider kind is one the registry declares.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors import registry


def _known_kind(value: str) -> str:
    """A provider kind is one the registry declares (connectors/registry.py): adding a
    provider module adds its kind here, and a typo is an error."""
    if value not in registry.kinds():
        raise ValueError(f"{value!r} is not a provider kind ({', '.join(registry.kinds())})")
    return value


ProviderKind = Annotated[str, AfterValidator(_known_kind)]
# Events that end a datum's life at once (or, with `keep_after_end`, start its last clock).
EndEvent = Literal[
    "withdrawal",  # the person withdraws consent for the purpose
    "revocation",  # an admin or the provider revokes the grant
    "erasure",  # the person's data is erased on request
    "room_unbound",  # the host disconnects the room from the calendar
    "calendar_chosen",  # the host picked a calendar
    "sign_out",
    "sign_in_completed",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Text(_Model):
    """Non-empty text is the point of most fields: an empty promise is a bug."""

    @field_validator("*", mode="after")
    @classmethod
    def _not_blank(cls, value: object) -> object:
        if isinstance(value, str) and not value:
            raise ValueError("must not be empty")
        return value


class LegalBasis(Text):
    title: str
    article: str
    source: str


class Retention(Text):
    """How long a datum lives: at least one of `max_age`, `idle` or `until` is set."""

    text: str
    max_age: timedelta | None = None  # deleted this long after it was written, at the latest
    idle: timedelta | None = None  # deleted this long after it was last used
    until: tuple[EndEvent, ...] = ()  # deleted at once when one of these happens
    proof_after: tuple[EndEvent, ...] = ()  # kept `keep_after_end` after one of these...
    keep_after_end: timedelta | None = None  # ...as proof, then deleted

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.max_age is None and self.idle is None and not self.until:
            raise ValueError("a retention needs max_age, idle or until")
        if (self.keep_after_end is None) != (not self.proof_after):
            raise ValueError("keep_after_end and proof_after go together")
        if set(self.proof_after) & set(self.until):
            raise ValueError("an event either deletes at once (until) or starts proof_after")
        for name in ("max_age", "idle", "keep_after_end"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        return self


class DataCategory(Text):
    id: str
    title: str
    description: str
    retention: Retention


class Recipient(Text):
    who: str
    sees: str


class ScopeEntry(Text):
    """One provider scope, why it is the narrowest that serves, and where that is written."""

    scope: str
    source: str
    why: str
    # False: the provider grants it but never lists it in the token response's `scope`.
    echoed: bool = True
    # Other spellings the provider uses for it in `scope` (Google's long userinfo forms).
    echoed_as: tuple[str, ...] = ()
    # What served in its place under an earlier consent version: a grant holding that one
    # instead stays usable (Google's calendar.freebusy: polled, never watched).
    earlier: tuple[str, ...] = ()

    @field_validator("source")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("a source is an https:// link")
        return value


class ConsentText(Text):
    """What a person reads before granting a purpose; `version` changes with every edit."""

    version: str
    what: str
    why: str
    legal_basis: str
    retention: str
    recipients: str
    withdraw: str
    provider_notes: dict[ProviderKind, str] = Field(default_factory=dict)

    def sections(self) -> tuple[tuple[str, str], ...]:
        """The text as (heading, paragraph) pairs, in the order a person should read it."""
        return (
            ("What we use", self.what),
            ("Why", self.why),
            ("Legal basis", self.legal_basis),
            ("How long we keep it", self.retention),
            ("Who sees what", self.recipients),
            ("How to withdraw", self.withdraw),
        )

    @property
    def digest(self) -> str:
        """SHA-256 of the exact text, to store with a consent record next to the version."""
        parts = [f"{h}\n{p}" for h, p in self.sections()]
        parts += [f"{k}\n{v}" for k, v in sorted(self.provider_notes.items())]
        return hashlib.sha256("\n\n".join(parts).encode("utf-8")).hexdigest()

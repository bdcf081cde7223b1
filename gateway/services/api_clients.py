"""API clients as admins manage them, and as the JSON API sees them: a `Caller`.

A client names the audiences it belongs to (group names a room's `visibility` may list),
explicit room ids it may also see, and its own rate limit in the `limits` notation
("600/minute", "10/second;500/hour"). The secret is returned once by `create` and never
again: only its HMAC is stored (see gateway.storage.api_clients). Every change of a client
is one audit record (the client as a keyed pseudonym of "client:<id>").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.request_log import security_event
from gateway.services.callers import Caller
from gateway.services.room_model import AUDIENCE, ROOM_ID, describe
from gateway.storage.api_clients import ApiClient, ApiClientStore
from gateway.storage.audit import AuditTrail

log = logging.getLogger(__name__)

DEFAULT_RATE_LIMIT = "600/minute"
CLIENT = "client"


class ApiClientError(Exception):
    """A refusal with an HTTP status, a machine code and a message safe to show."""

    status = 400
    code = "invalid_client"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidClient(ApiClientError):
    status, code = 400, "invalid_client"


class ClientNotFound(ApiClientError):
    status, code = 404, "client_not_found"


class ClientSpec(BaseModel):
    """What an admin says about a client; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    audiences: list[str] = Field(default_factory=list, max_length=50)
    rooms: list[str] = Field(default_factory=list, max_length=1000)
    rate_limit: str = DEFAULT_RATE_LIMIT

    @field_validator("audiences")
    @classmethod
    def _audiences(cls, value: list[str]) -> list[str]:
        for name in value:
            if not AUDIENCE.match(name):
                raise ValueError(f"{name!r} is not a group name (letters, digits, ._:@-)")
        return sorted(set(value))

    @field_validator("rooms")
    @classmethod
    def _rooms(cls, value: list[str]) -> list[str]:
        for room_id in value:
            if not ROOM_ID.match(room_id):
                raise ValueError(f"{room_id!r} is not a room id (a-z, 0-9, '-')")
        return sorted(set(value))

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parsed = parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate limit such as '600/minute' or '10/second;500/hour'"
            ) from None
        if not parsed or any(item.amount < 1 for item in parsed):
            raise ValueError(f"{value!r} must allow at least one request")
        return value


def as_caller(client: ApiClient) -> Caller:
    return Caller(
        kind=CLIENT,
        id=client.id,
        audiences=client.audiences,
        rooms=client.rooms,
        rate_limit=client.rate_limit or DEFAULT_RATE_LIMIT,
    )


class ApiClientService:
    """A thin layer over ApiClientStore: validation, typed refusals, callers."""

    def __init__(self, store: ApiClientStore, audit: AuditTrail) -> None:
        self.store = store
        self.audit = audit

    def create(
        self,
        name: str,
        audiences: Iterable[str] = (),
        rooms: Iterable[str] = (),
        rate_limit: str = DEFAULT_RATE_LIMIT,
        actor: str = "operator",
    ) -> tuple[ApiClient, str]:
        """The new client and its secret; the secret is not kept and cannot be shown again."""
        try:
            spec = ClientSpec(
                name=name, audiences=list(audiences), rooms=list(rooms), rate_limit=rate_limit
            )
        except ValidationError as error:
            raise InvalidClient(describe(error)) from None
        if not spec.audiences and not spec.rooms:
            raise InvalidClient("a client needs at least one audience or room, or it sees nothing")
        client, secret = self.store.create(
            spec.name, set(spec.audiences), set(spec.rooms), spec.rate_limit
        )
        self.audit.record(
            actor=actor,
            action="api_client.create",
            subject=f"client:{client.id}",
            detail={"audiences": len(spec.audiences), "rooms": len(spec.rooms)},
        )
        security_event("api_client.create", "success", actor=actor, subject=client.id)
        return client, secret

    def all(self) -> list[ApiClient]:
        return self.store.all()

    def require(self, client_id: str) -> ApiClient:
        found = self.store.get(client_id) if _plausible_id(client_id) else None
        if found is None:
            raise ClientNotFound(f"there is no API client {client_id!r}")
        return found

    def disable(self, client_id: str, actor: str = "operator") -> ApiClient:
        return self._set_disabled(client_id, True, actor)

    def enable(self, client_id: str, actor: str = "operator") -> ApiClient:
        return self._set_disabled(client_id, False, actor)

    def delete(self, client_id: str, actor: str = "operator") -> None:
        if not (_plausible_id(client_id) and self.store.delete(client_id)):
            raise ClientNotFound(f"there is no API client {client_id!r}")
        self.audit.record(actor=actor, action="api_client.delete", subject=f"client:{client_id}")
        security_event("api_client.delete", "success", actor=actor, subject=client_id)

    def authenticate(self, secret: str) -> Caller | None:
        """The caller a presented secret stands for; None for unknown, wrong or disabled."""
        found = self.store.authenticate(secret)
        return as_caller(found) if found is not None else None

    def _set_disabled(self, client_id: str, disabled: bool, actor: str) -> ApiClient:
        if not (_plausible_id(client_id) and self.store.set_disabled(client_id, disabled)):
            raise ClientNotFound(f"there is no API client {client_id!r}")
        self.audit.record(
            actor=actor,
            action="api_client.disable" if disabled else "api_client.enable",
            subject=f"client:{client_id}",
        )
        action = "api_client.disable" if disabled else "api_client.enable"
        security_event(action, "success", actor=actor, subject=client_id)
        return self.require(client_id)


def _plausible_id(client_id: str) -> bool:
    """Ids are 12 hex digits; anything else is not looked up (no odd keys in Redis)."""
    return len(client_id) == 12 and all(c in "0123456789abcdef" for c in client_id)

"""API clients: what a client may be, how its secret authenticates, and how it ends."""

from __future__ import annotations

import pytest
from flask import Flask

from gateway.services.api_clients import (
    DEFAULT_RATE_LIMIT,
    ApiClientService,
    ClientNotFound,
    InvalidClient,
)


@pytest.fixture
def service(app: Flask) -> ApiClientService:
    return ApiClientService(app.extensions["gateway"].api_clients, app.extensions["gateway"].audit)


def test_a_new_client_authenticates_as_a_caller_with_its_audiences_rooms_and_limit(
    service: ApiClientService,
) -> None:
    client, secret = service.create(
        " booking ",
        audiences=["frontend", "staff", "frontend"],
        rooms=["blue"],
        rate_limit="5/second",
    )
    assert (client.name, client.audiences, client.rooms) == (
        "booking",
        {"frontend", "staff"},
        {"blue"},
    )
    assert secret.startswith(f"gwc_{client.id}.")

    caller = service.authenticate(secret)
    assert caller is not None
    assert (caller.kind, caller.id, caller.audiences, caller.rooms, caller.rate_limit) == (
        "client",
        client.id,
        frozenset({"frontend", "staff"}),
        frozenset({"blue"}),
        "5/second",
    )
    assert caller.can_see("blue", [], None)
    assert caller.can_see("green", ["staff"], "someone")
    assert not caller.can_see("red", ["members"], None)
    assert service.create("other", audiences=["x"])[0].rate_limit == DEFAULT_RATE_LIMIT


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": ""}, "name: String should have at least 1 character"),
        ({"name": "x" * 101}, "name: String should have at most 100 characters"),
        ({"audiences": ["front end"]}, "'front end' is not a group name"),
        ({"rooms": ["Blue Room"]}, "'Blue Room' is not a room id"),
        ({"rate_limit": "lots"}, "'lots' is not a rate limit such as '600/minute'"),
        ({"rate_limit": "600/fortnight"}, "is not a rate limit"),
        ({"rate_limit": "0/minute"}, "must allow at least one request"),
        ({"audiences": [], "rooms": []}, "a client needs at least one audience or room"),
    ],
)
def test_a_bad_client_is_refused_with_a_message_naming_the_field(
    service: ApiClientService, fields: dict[str, object], expected: str
) -> None:
    arguments: dict[str, object] = {"name": "booking", "audiences": ["frontend"], **fields}
    with pytest.raises(InvalidClient) as refused:
        service.create(**arguments)  # type: ignore[arg-type]
    assert expected in refused.value.message
    assert service.all() == []


def test_several_limits_in_one_string_are_accepted(service: ApiClientService) -> None:
    client, _ = service.create("burst", audiences=["a"], rate_limit="10/second;500/hour")
    assert client.rate_limit == "10/second;500/hour"


def test_disable_enable_and_delete(service: ApiClientService) -> None:
    client, secret = service.create("booking", audiences=["frontend"])
    assert service.disable(client.id).disabled
    assert service.authenticate(secret) is None
    assert not service.enable(client.id).disabled
    assert service.authenticate(secret) is not None
    assert [c.id for c in service.all()] == [client.id]

    service.delete(client.id)
    assert service.authenticate(secret) is None
    assert service.all() == []


@pytest.mark.parametrize("client_id", ["0123456789ab", "nope", "../x", ""])
def test_an_unknown_client_is_not_found(service: ApiClientService, client_id: str) -> None:
    for action in (service.disable, service.enable, service.delete, service.require):
        with pytest.raises(ClientNotFound):
            action(client_id)


@pytest.mark.parametrize(
    "presented",
    ["", "gwc_", "gwc_abc", "Bearer gwc_x.y", "gwc_0123456789ab.wrong", "x" * 500],
)
def test_anything_but_the_secret_authenticates_nobody(
    service: ApiClientService, presented: str
) -> None:
    service.create("booking", audiences=["frontend"])
    assert service.authenticate(presented) is None

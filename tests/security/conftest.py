"""The attack suite builds many gateways; each one's Redis connections are closed when its
test ends, so none is left for the garbage collector to find (filterwarnings = error turns
an unclosed socket into a failure of whichever test happens to trigger a collection)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from tests.conftest import make_gateway


def close(app: Flask) -> None:
    app.extensions["gateway"].redis.close()
    app.extensions["gateway"].redis.connection_pool.disconnect()
    limiter = app.extensions.get("gateway_limiter")
    if limiter is not None:
        limiter.close()


@pytest.fixture
def app(gateway_env: dict[str, str]) -> Iterator[Flask]:
    built = make_gateway(gateway_env)
    yield built
    close(built)


@pytest.fixture
def build_gateway() -> Iterator[Callable[[dict[str, str]], Flask]]:
    built: list[Flask] = []

    def build(env: dict[str, str]) -> Flask:
        built.append(make_gateway(env))
        return built[-1]

    yield build
    for app in built:
        close(app)

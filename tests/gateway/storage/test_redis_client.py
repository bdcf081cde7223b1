"""One GATEWAY_REDIS_URL names a server, a Sentinel-watched master or a cluster."""

from __future__ import annotations

import gc
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from gateway.storage.embedded import find_redis_server
from gateway.storage.redis_client import (
    Deployment,
    RedisUrlError,
    connect,
    limiter_storage,
    parse,
)
from tests.redis_cluster import LocalCluster, free_port


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", Deployment(kind="single", url="redis://127.0.0.1:6379/0")),
        ("unix:///run/redis.sock", Deployment(kind="single", url="unix:///run/redis.sock")),
        (
            "redis+sentinel://gw:s%40cret@s1:26379,s2:26379/tokens/2",
            Deployment(
                kind="sentinel",
                url="redis+sentinel://gw:s%40cret@s1:26379,s2:26379/tokens/2",
                nodes=(("s1", 26379), ("s2", 26379)),
                service="tokens",
                db=2,
                username="gw",
                password="s@cret",
            ),
        ),
        (
            "rediss+cluster://a:7000,b:7001?ssl_ca_certs=/etc/ca.pem",
            Deployment(
                kind="cluster",
                url="rediss+cluster://a:7000,b:7001?ssl_ca_certs=/etc/ca.pem",
                nodes=(("a", 7000), ("b", 7001)),
                tls=True,
                tls_options={"ssl_ca_certs": "/etc/ca.pem"},
            ),
        ),
    ],
)
def test_each_deployment_is_read_from_its_url(url: str, expected: Deployment) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:6379", "must start with one of"),
        ("redis+sentinel://s1:26379", "names the service"),
        ("redis+cluster://a:7000/1", "has no path"),
        ("redis+cluster://a:7000,b", "'b' is not host:port"),
        ("redis+cluster://a:99999", "is not host:port"),
        ("redis+sentinel://s1:26379/tokens/x", "must be a number"),
        ("rediss+cluster://a:7000?ssl_cert_reqs=none", "unknown options: ssl_cert_reqs"),
        ("rediss://h:6380/0?ssl_check_hostname=false", "unknown options: ssl_check_hostname"),
        ("redis://h:6379/0?socket_timeout=60", "unknown options: socket_timeout"),
    ],
)
def test_a_mistake_in_the_url_is_named(url: str, message: str) -> None:
    with pytest.raises(RedisUrlError, match=message):
        parse(url)


def test_the_rate_limiter_is_given_the_same_deployment_in_its_own_spelling() -> None:
    assert limiter_storage("unix:///run/r.sock") == ("redis+unix:///run/r.sock", {})
    assert limiter_storage("rediss://h:6380/0") == ("rediss://h:6380/0", {})
    uri, options = limiter_storage("rediss+cluster://a:7000?ssl_ca_certs=/ca.pem")
    assert uri == "redis+cluster://a:7000"
    assert options == {"ssl": True, "ssl_cert_reqs": "required", "ssl_ca_certs": "/ca.pem"}
    uri, options = limiter_storage("redis+sentinel://s1:26379/tokens")
    assert (uri, options["use_replicas"]) == ("redis+sentinel://s1:26379/tokens", False)


def test_a_cluster_url_gives_a_cluster_client_that_reaches_every_master(
    tmp_path: Path,
) -> None:
    with LocalCluster(tmp_path) as cluster:
        client = connect(cluster.url)
        assert isinstance(client, RedisCluster)
        for n in range(30):  # keys spread over the three masters' slots
            client.set(f"gw:probe:{n}", str(n))
        per_master = [client.get_redis_connection(node).dbsize() for node in client.get_primaries()]
        assert len(per_master) == 3 and all(count > 0 for count in per_master)
        client.close()


@pytest.fixture
def sentinel_url(tmp_path: Path) -> Iterator[str]:
    """A real master watched by a real Sentinel (the same binary in sentinel mode)."""
    binary = shutil.which("redis-server") or find_redis_server()
    master_port, sentinel_port = free_port(), free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor tokens 127.0.0.1 {master_port} 1\n"
    )
    started = [
        [binary, "--port", str(master_port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
        [binary, str(config), "--sentinel"],
    ]
    processes = [
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for argv in started
    ]
    try:
        _wait_for_sentinel(sentinel_port)
        yield f"redis+sentinel://127.0.0.1:{sentinel_port}/tokens"
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_sentinel(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with redis.Redis(port=port, decode_responses=True) as probe:
                if probe.sentinel_get_master_addr_by_name("tokens"):
                    return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the Sentinel did not come up")


def test_a_sentinel_url_reaches_the_master_the_sentinel_names(sentinel_url: str) -> None:
    client = connect(sentinel_url)
    client.set("gw:probe", "through sentinel")
    assert client.get("gw:probe") == "through sentinel"
    assert client.info("replication")["role"] == "master"
    client.close()


def test_the_gateway_and_its_rate_limiter_run_on_a_sentinel_deployment(
    sentinel_url: str, make_env: Any, build_gateway: Any
) -> None:
    app = build_gateway(make_env(GATEWAY_REDIS_URL=sentinel_url))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert client.get("/v1/rooms").status_code == 401  # counted by the limiter
    master = connect(sentinel_url)
    assert list(master.scan_iter("gw:limits*"))
    master.close()
    # The app is never shut down here: its Sentinel clients' sockets go when collected.
    del app, client
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()

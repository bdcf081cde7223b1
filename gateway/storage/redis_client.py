"""One Redis client per app, for any of the three deployments, failing fast when Redis does.

`GATEWAY_REDIS_URL` names the deployment with the same schemes the `limits` package (the
rate limiter's storage) understands, so one URL configures both:

    redis://[user:password@]host:port[/db]      one server
    rediss://...                                 one server over TLS (certificate checked)
    unix:///path/to/redis.sock                   one server on a local socket
    redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]
    redis+cluster://[user:password@]host:port[,host:port...]
    rediss+sentinel://..., rediss+cluster://...  the same over TLS

Credentials in the URL are the data nodes'; Sentinels are asked without them (TLS applies
to both). TLS options ride in the query: `ssl_ca_certs=/path/ca.pem` (the CA to trust) and,
for mutual TLS, `ssl_certfile` and `ssl_keyfile`. Certificates are always verified: there is
no option to turn that off.

redis-py waits for the OS defaults (about a minute) on a hung server; here a connect or a
read gives up after half a second and is retried once, so a dead Redis turns into a quick
503 rather than a pile of stuck requests.

The gateway's code is written against `redis.Redis`. A `RedisCluster` answers the same
commands for the ways the gateway uses them, because every multi-key command and
transaction stays inside one hash tag (see storage/keys.py) and the few cross-slot reads
go through pipelines, which the cluster client splits per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from limits.storage import Storage, storage_from_string
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

CONNECT_TIMEOUT = 0.5
SOCKET_TIMEOUT = 0.5
CLIENT_NAME = "consent-gateway"
# Connections a process may open (redis-py's default is 100): a cold free/busy fan-out runs
# up to 256 grant fetches at once (services/freebusy_fetch.py), each holding one connection
# per command, beside the request threads; past the limit a command fails outright.
MAX_CONNECTIONS = 512

SINGLE_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
TLS_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


class RedisUrlError(ValueError):
    """A GATEWAY_REDIS_URL that names no deployment this module can reach."""


@dataclass(frozen=True)
class Deployment:
    """What a Redis URL says, parsed once: the kind, where, who, and how to trust it."""

    kind: str  # "single", "sentinel" or "cluster"
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_options: dict[str, str] = field(default_factory=dict)


def parse(url: str) -> Deployment:
    """Parse `url`, raising RedisUrlError with one clear sentence for each mistake."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in SINGLE_SCHEMES + SENTINEL_SCHEMES + CLUSTER_SCHEMES:
        schemes = ", ".join(f"{s}://" for s in SINGLE_SCHEMES + SENTINEL_SCHEMES + CLUSTER_SCHEMES)
        raise RedisUrlError(f"GATEWAY_REDIS_URL must start with one of {schemes}")
    # Only these: redis-py would also honour e.g. ssl_cert_reqs=none from a single-server URL
    query = parse_qs(parts.query)
    allowed = (*TLS_OPTIONS, "db") if scheme == "unix" else TLS_OPTIONS
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise RedisUrlError(f"GATEWAY_REDIS_URL has unknown options: {', '.join(unknown)}")
    if scheme in SINGLE_SCHEMES:
        try:
            parts.port  # noqa: B018 (raises on a port that is not a number from 0 to 65535)
        except ValueError:
            raise RedisUrlError(
                "GATEWAY_REDIS_URL: the port must be a number from 1 to 65535"
            ) from None
        return Deployment(kind="single", url=url)
    kind = "sentinel" if scheme in SENTINEL_SCHEMES else "cluster"
    path = [p for p in parts.path.split("/") if p]
    if kind == "sentinel" and not 1 <= len(path) <= 2:
        raise RedisUrlError("a redis+sentinel:// URL names the service: .../service[/db]")
    if kind == "cluster" and path:
        raise RedisUrlError("a redis+cluster:// URL has no path: Redis Cluster has only db 0")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise RedisUrlError(f"the database in GATEWAY_REDIS_URL must be a number: {path[1]}")
        db = int(path[1])
    return Deployment(
        kind=kind,
        url=url,
        nodes=_nodes(parts.netloc.rpartition("@")[2]),
        service=path[0] if kind == "sentinel" else "",
        db=db,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=scheme.startswith("rediss"),
        tls_options={name: values[-1] for name, values in query.items()},
    )


def _nodes(hosts: str) -> tuple[tuple[str, int], ...]:
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisUrlError(f"GATEWAY_REDIS_URL: {node!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    return tuple(nodes)


def _fail_fast() -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        "client_name": CLIENT_NAME,
        "max_connections": MAX_CONNECTIONS,
    }


def _tls(deployment: Deployment) -> dict[str, Any]:
    if not deployment.tls:
        return {}
    return {"ssl": True, "ssl_cert_reqs": "required", **deployment.tls_options}


# What the gateway types a client as (a cluster client too: see the module docstring).
RedisClient = redis.Redis


def connect(url: str) -> redis.Redis:
    """A client for `url` returning str, not bytes.

    Typed as `redis.Redis` for the cluster too: see the module docstring for why the
    gateway's commands mean the same on both.
    """
    deployment = parse(url)
    if deployment.kind == "cluster":
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in deployment.nodes],
            username=deployment.username,
            password=deployment.password,
            **_fail_fast(),
            **_tls(deployment),
        )
        return cast(redis.Redis, cluster)
    if deployment.kind == "sentinel":
        sentinel = Sentinel(
            list(deployment.nodes),
            sentinel_kwargs={
                "socket_connect_timeout": CONNECT_TIMEOUT,
                "socket_timeout": SOCKET_TIMEOUT,
                **_tls(deployment),
            },
            username=deployment.username,
            password=deployment.password,
            **_tls(deployment),
        )
        master = sentinel.master_for(deployment.service, db=deployment.db, **_fail_fast())
        return cast(redis.Redis, master)
    return redis.Redis.from_url(url, health_check_interval=30, **_fail_fast())


def get_many(client: redis.Redis, names: Sequence[str]) -> list[Any]:
    """MGET of keys in any slots: one command on a server, one per node on a cluster."""
    if not names:
        return []
    if isinstance(client, RedisCluster):
        return list(client.mget_nonatomic(list(names)))
    return list(client.mget(list(names)))


def limiter_storage(url: str) -> tuple[str, dict[str, Any]]:
    """The `limits` storage URI and options for the same deployment as `url`.

    `limits` spells a socket `redis+unix://` and has no TLS schemes for Sentinel or
    Cluster: those become the plain scheme with `ssl` options.
    """
    deployment = parse(url)
    if url.startswith("unix://"):
        return "redis+unix://" + url.removeprefix("unix://"), {}
    if deployment.kind == "single":
        return url, {}
    plain = url.replace("rediss+", "redis+", 1).split("?", 1)[0]
    options: dict[str, Any] = _tls(deployment)
    if deployment.kind == "sentinel":
        # the limiter counts on the master: a replica's counts lag behind
        options = {"use_replicas": False, "sentinel_kwargs": dict(options), **options}
    return plain, options


def limiter_store(url: str, *, timeout: float, key_prefix: str) -> Storage:
    """The rate limiter's storage on the same deployment as `url`: `timeout` for connect
    and read, no retry (the limiter counts in-process instead), keys under `key_prefix`."""
    uri, deployment_options = limiter_storage(url)
    options: dict[str, Any] = {
        **deployment_options,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "key_prefix": key_prefix,
    }
    storage = storage_from_string(uri, **options)
    assert isinstance(storage, Storage)  # a synchronous scheme: limiter_storage() makes one
    return storage


def answers(client: redis.Redis) -> bool:
    """Does Redis answer a PING now (the readiness probe)?"""
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False

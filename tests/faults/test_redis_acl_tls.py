"""T23, Redis ACL and TLS: the gateway runs whole on the ACL user of deploy/REDIS.md over
TLS only, and that user can do nothing else.

A real redis-server is started with `deploy/redis.conf` (AOF, noeviction), TLS only
(`port 0`, a trustme CA) and the ACL file `deploy/redis-users.acl.example`, its hash
placeholders filled with the sha256 of random passwords, plus an `admin` user that only this
test has (to read `ACL LOG` and `INFO commandstats`). Then:

(a) a real gateway on `rediss://gateway:...@127.0.0.1:P/0?ssl_ca_certs=CA` goes through
    sign-in, consent, room creation and binding, free/busy (cold, cached, refreshed token,
    provider failure with the breaker), the rate-limited API, export, restriction, an
    admin's revocation, withdrawal, key rotation and retention, erasure and logout, and
    `ACL LOG` stays empty: the user list in REDIS.md is complete;
(b) as `gateway`: CONFIG GET, FLUSHALL, KEYS *, DEBUG, SHUTDOWN, ACL, access outside
    `gw:*` (also from Lua) and Pub/Sub each answer NOPERM and change nothing;
(c) plaintext to the TLS port fails, and so does TLS against a CA that did not sign the
    server's certificate or a host name the certificate does not name;
(d) `default` cannot authenticate (nor can anyone without a password); `healthcheck` can
    PING and nothing else.

If redis-server was built without TLS, (a), (b) and (d) run over plain TCP and (c) skips.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import trustme
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.services.api_clients import ApiClientService
from gateway.storage.embedded import find_redis_server
from gateway.storage.job_runs import JOBS
from gateway.storage.redis_client import RedisUrlError, connect
from gateway.worker import Worker
from tests.faults.support import measured
from tests.gateway.blueprints.test_consent import give_consent
from tests.security.support import DAY, SLOTS, bearer, csrf_token, signed_in_uid

ROOT = Path(__file__).resolve().parents[2]
ACL_EXAMPLE = ROOT / "deploy" / "redis-users.acl.example"
REDIS_CONF = ROOT / "deploy" / "redis.conf"
ALICE, BOB = "alice@example.com", "bob@example.com"
PURPOSE = "room-availability"
LATER_DAY = {"timeMin": "2026-11-26T00:00:00Z", "timeMax": "2026-11-27T00:00:00Z"}
HOURS = {d: [["08:00", "18:00"]] for d in ("monday", "tuesday", "wednesday", "thursday")}


def redis_has_tls(binary: str) -> bool:
    """A build without TLS refuses the `tls-port` directive; one with it exits because it
    was told to listen nowhere."""
    probe = subprocess.run(
        [binary, "--port", "0", "--tls-port", "0"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return "not listen anywhere" in probe.stdout + probe.stderr


def server_version(binary: str) -> tuple[int, ...]:
    answer = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    found = re.search(r"v=(\d+)\.(\d+)\.(\d+)", answer)
    assert found, answer
    return tuple(int(part) for part in found.groups())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


@dataclass
class AclRedis:
    port: int
    tls: bool
    ca: Path
    rogue_ca: Path
    passwords: dict[str, str]
    version: tuple[int, ...]

    def url(self, user: str, host: str = "127.0.0.1", ca: Path | None = None) -> str:
        secret = quote(self.passwords[user], safe="")
        if not self.tls:
            return f"redis://{user}:{secret}@{host}:{self.port}/0"
        return f"rediss://{user}:{secret}@{host}:{self.port}/0?ssl_ca_certs={ca or self.ca}"

    def as_user(self, user: str) -> redis.Redis:
        return connect(self.url(user))


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclRedis]:
    folder = tmp_path_factory.mktemp("redis-acl")
    binary = shutil.which("redis-server") or find_redis_server()  # as tests/conftest.py
    tls = redis_has_tls(binary)
    version = server_version(binary)
    passwords = {user: secrets.token_urlsafe(24) for user in ("gateway", "healthcheck", "admin")}
    acl = (
        ACL_EXAMPLE.read_text()
        .replace("#SHA256_OF_GATEWAY_PASSWORD", "#" + sha256(passwords["gateway"]))
        .replace("#SHA256_OF_HEALTHCHECK_PASSWORD", "#" + sha256(passwords["healthcheck"]))
    )
    assert "SHA256_OF" not in acl, "a placeholder of the example was left unfilled"
    if version < (7, 2):  # CLIENT SETINFO is new in 7.2; 7.0 refuses the file over it
        acl = acl.replace(" +client|setinfo", "")
    acl += f"user admin on #{sha256(passwords['admin'])} ~* &* +@all\n"  # this test's only
    (folder / "users.acl").write_text(acl)

    ca, rogue = trustme.CA(), trustme.CA()
    certificate = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    rogue.cert_pem.write_to_path(str(folder / "rogue-ca.pem"))
    certificate.private_key_pem.write_to_path(str(folder / "server.key"))
    certificate.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))

    port = free_port()
    listen = (
        [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {folder / 'server.pem'}",
            f"tls-key-file {folder / 'server.key'}",
            f"tls-ca-cert-file {folder / 'ca.pem'}",
            "tls-auth-clients no",  # the password authenticates the client; no mutual TLS
        ]
        if tls
        else [f"port {port}"]
    )
    (folder / "redis.conf").write_text(
        "\n".join(
            [
                f"include {REDIS_CONF}",  # AOF everysec, no RDB, noeviction, loopback only
                *listen,
                f"aclfile {folder / 'users.acl'}",
                f"dir {folder}",
                # DEBUG is refused by default since 7.0; allow it so that the ACL alone must
                # refuse it to the gateway user (production keeps the default, `no`)
                "enable-debug-command yes",
                "daemonize no",
                "loglevel warning",
                f"logfile {folder / 'redis.log'}",
                "",
            ]
        )
    )
    process = subprocess.Popen([binary, str(folder / "redis.conf")], stdin=subprocess.DEVNULL)
    server = AclRedis(port, tls, folder / "ca.pem", folder / "rogue-ca.pem", passwords, version)
    admin = server.as_user("admin")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((folder / "redis.log").read_text()) from None
                time.sleep(0.05)
        assert admin.config_get("appendonly") == {"appendonly": "yes"}
        assert admin.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        yield server
    finally:
        admin.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def admin(acl_redis: AclRedis) -> Iterator[redis.Redis]:
    client = acl_redis.as_user("admin")
    yield client
    client.close()


@pytest.fixture
def as_gateway(acl_redis: AclRedis) -> Iterator[redis.Redis]:
    client = acl_redis.as_user("gateway")
    yield client
    client.close()


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], emulator: Any, acl_redis: AclRedis) -> dict[str, str]:
    """The shared settings on the ACL'd, TLS-only Redis, with Bob as the admin."""
    bob = next(a["subject"] for a in emulator.client.accounts() if a["email"] == BOB)
    return {
        **gateway_env,
        "GATEWAY_REDIS_URL": acl_redis.url("gateway"),
        "GATEWAY_ADMINS": f"google:{bob}",
        "GATEWAY_FREEBUSY_DEADLINE_SECONDS": "2",
    }


# -- (a) the whole gateway on the ACL user --------------------------------------------------------
def drive_everything(app: Flask, sign_in: Any, another_browser: Any, client: FlaskClient) -> None:
    """Every flow that touches Redis, through HTTP where there is a route for it."""
    emulator = sign_in.emulator.client
    services = app.extensions["gateway"]
    assert client.get("/readyz").status_code == 200

    # sign-in (Alice, a host) and consent; the access token expires at once, so the first
    # free/busy refreshes it (refresh lock and compare-and-set scripts)
    sign_in.complete("google", ALICE)
    alice = signed_in_uid(client)
    emulator.settings(access_token_ttl=1)
    given = give_consent(sign_in, client, "google", ALICE)
    emulator.settings(access_token_ttl=3600)
    assert given.status_code == 303 and given.headers["Location"] == "/account"
    (grant,) = services.grants.list(alice)
    emulator.add_event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")

    # an admin (Bob) creates the room over the admin API; Alice binds it on her page
    bob = another_browser()
    bob.complete("google", BOB)
    created = bob.client.post(
        "/v1/admin/rooms",
        json={
            "id": "atlas",
            "name": "Atlas",
            "time_zone": "UTC",
            "host": alice,
            "visibility": ["frontend"],
            "hours": HOURS,
        },
        headers={"X-CSRFToken": csrf_token(bob.client)},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert client.get("/rooms/connect").status_code == 200
    bound = client.post(
        "/rooms/atlas/bind",
        data={"csrf_token": csrf_token(client), "grant": grant.id, "calendar": "primary"},
    )
    assert bound.status_code == 303, bound.get_data(as_text=True)

    # the booking API: cold, cached, slots, a provider failure, the rate limit, bad bearers
    _, secret = ApiClientService(services.api_clients, services.audit).create(
        "booking", audiences=["frontend"], rate_limit="6/minute"
    )
    assert client.get("/v1/rooms", headers=bearer(secret)).status_code == 200
    for _ in range(2):
        answer = client.post(
            "/v1/freebusy", json={"rooms": ["atlas"], **DAY}, headers=bearer(secret)
        )
        assert answer.status_code == 200
        assert answer.get_json()["rooms"]["atlas"]["status"] == "ok"
        assert answer.get_json()["rooms"]["atlas"]["busy"]
    assert emulator.calls().get("google.token", 0) >= 2  # the code, then the refresh
    slots = client.get("/v1/rooms/atlas/slots", query_string=SLOTS, headers=bearer(secret))
    assert slots.status_code == 200
    emulator.fault("google.freebusy", status=503, times=-1)
    failed = client.post(
        "/v1/freebusy", json={"rooms": ["atlas"], **LATER_DAY}, headers=bearer(secret)
    )
    assert failed.get_json()["rooms"]["atlas"]["status"] == "unknown"
    codes = [client.get("/v1/rooms", headers=bearer(secret)).status_code for _ in range(3)]
    assert codes == [200, 429, 429]  # 6/minute: five calls above, one more, then refused
    assert client.get("/v1/rooms", headers=bearer("gwc_a.b")).status_code == 401
    assert client.get("/openapi.json").status_code == 200

    # the data subject: export, restriction on and off, the account page
    assert client.get("/v1/me/export").status_code == 200
    token = csrf_token(client)
    for restricted in (True, False):
        answer = client.post(
            "/v1/me/restriction", json={"restricted": restricted}, headers={"X-CSRFToken": token}
        )
        assert answer.get_json() == {"restricted": restricted}
    assert client.get("/account").status_code == 200

    # the admin: console, user page, audit, then revokes Alice's grant
    for page in ("/admin", f"/admin/users/{alice}", "/admin/rooms/atlas", "/admin/audit"):
        assert bob.client.get(page).status_code == 200, page
    revoked = bob.client.post(
        f"/admin/users/{alice}/grants/{grant.id}/revoke",
        data={"reason": "T23: security review", "csrf_token": csrf_token(bob.client)},
    )
    assert revoked.status_code == 200, revoked.get_data(as_text=True)
    assert services.rooms.binding("atlas") is None

    # Alice consents again and withdraws (revocation at the provider, consent record)
    assert give_consent(sign_in, client, "google", ALICE).status_code == 303
    withdrawn = client.post(
        f"/consent/{PURPOSE}/withdraw",
        data={"provider": "google", "csrf_token": csrf_token(client)},
    )
    assert withdrawn.status_code == 303

    # operator commands run on the same user
    runner = app.test_cli_runner()
    for command in (["keys", "status"], ["keys", "rotate"], ["retention", "run"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, (command, result.output)

    # erasure (AOF rewrite included) and logout
    erased = client.delete("/v1/me", headers={"X-CSRFToken": csrf_token(client)})
    assert erased.status_code == 200, erased.get_data(as_text=True)
    assert client.get("/v1/me").status_code == 401
    assert (
        bob.client.post("/auth/logout", data={"csrf_token": csrf_token(bob.client)}).status_code
        == 303
    )


def refused_commands(admin: redis.Redis) -> str:
    """What ACL LOG holds, as `object (reason, context)`: the command or key refused."""
    entries = admin.acl_log()
    return ", ".join(sorted({f"{e['object']} ({e['reason']}, {e['context']})" for e in entries}))


def test_the_gateway_runs_whole_on_its_acl_user_without_one_refusal(
    app: Flask,
    sign_in: Any,
    another_browser: Any,
    client: FlaskClient,
    admin: redis.Redis,
    acl_redis: AclRedis,
) -> None:
    admin.acl_log_reset()
    admin.config_resetstat()
    started = time.monotonic()
    try:
        drive_everything(app, sign_in, another_browser, client)
    except AssertionError as failure:  # a refused command often shows up as a 503 first
        raise AssertionError(f"{failure}\nACL LOG: {refused_commands(admin)}") from None
    seconds = time.monotonic() - started
    # the breaker's failure script ran (INCR + PEXPIRE inside Lua): the count is there
    assert int(admin.get("gw:{breaker:google}:failures") or 0) >= 1

    refusals = admin.acl_log()
    assert refusals == [], "add to the ACL user in deploy/REDIS.md: " + refused_commands(admin)
    stats = admin.info("commandstats")
    used = {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}
    failed = {name: int(row.get("failed_calls", 0)) for name, row in stats.items()}
    rejected = {name: int(row.get("rejected_calls", 0)) for name, row in stats.items()}
    assert sum(rejected.values()) == 0, rejected
    measured(
        f"T23 (redis-server {'.'.join(map(str, acl_redis.version))}, "
        f"{'TLS' if acl_redis.tls else 'plain TCP'}): whole flow on ACL user 'gateway' in "
        f"{seconds:.1f} s, {sum(used.values())} commands of {len(used)} kinds "
        f"(admin's own included), {len(refusals)} ACL LOG entries, "
        f"failed calls (answered with an error, none NOPERM) "
        f"{ {name: n for name, n in failed.items() if n} }; used: {', '.join(sorted(used))}"
    )


def test_the_worker_runs_its_jobs_on_the_acl_user_without_one_refusal(
    app: Flask, admin: redis.Redis
) -> None:
    """The worker (gateway/worker.py): huey's queue and schedule and the ledger's scripts,
    both jobs run by its consumer, on the same ACL user, TLS only."""
    admin.acl_log_reset()
    now = time.time()
    due = now // 86400 * 86400 + 12.5 * 3600  # 12:30 UTC today: both jobs are due
    consumer = Worker(app, tick_seconds=0.2, clock=lambda: due).consumer(signals=False)
    consumer.start()
    try:
        deadline = time.monotonic() + 30
        while not all(admin.get(f"gw:job:{job}:last-success") for job in JOBS):
            assert time.monotonic() < deadline, "ACL LOG: " + refused_commands(admin)
            time.sleep(0.1)
    finally:
        consumer.stop(graceful=True)
    assert admin.acl_log() == [], "add to the ACL user in deploy/REDIS.md: " + refused_commands(
        admin
    )


# -- (b) what the gateway user may not do ---------------------------------------------------------
FORBIDDEN: list[tuple[str, tuple[Any, ...]]] = [
    ("CONFIG GET", ("CONFIG", "GET", "*")),
    ("CONFIG SET", ("CONFIG", "SET", "appendonly", "no")),
    ("FLUSHALL", ("FLUSHALL",)),
    ("FLUSHDB", ("FLUSHDB",)),
    ("KEYS *", ("KEYS", "*")),
    ("DEBUG", ("DEBUG", "SLEEP", "0")),
    ("SHUTDOWN", ("SHUTDOWN", "NOSAVE")),
    ("ACL LIST", ("ACL", "LIST")),
    ("ACL SETUSER", ("ACL", "SETUSER", "gateway", "+@all")),
    ("MODULE LIST", ("MODULE", "LIST")),
    ("MONITOR", ("MONITOR",)),
    ("REPLICAOF", ("REPLICAOF", "127.0.0.1", "1")),
    ("SET outside gw:*", ("SET", "other:key", "x")),
    ("GET outside gw:*", ("GET", "other:key")),
    ("DEL outside gw:*", ("DEL", "other:key")),
    ("MGET across the prefix", ("MGET", "gw:probe", "other:key")),
    ("HSET outside gw:*", ("HSET", "other:hash", "f", "v")),
    ("RENAME out of gw:*", ("RENAME", "gw:probe", "other:key")),
    ("EVAL touching a key outside gw:*", ("EVAL", "return redis.call('SET','other:key','x')", 0)),
    ("EVAL calling FLUSHALL", ("EVAL", "return redis.call('FLUSHALL')", 0)),
    ("PUBLISH", ("PUBLISH", "gw:channel", "x")),
]


def test_the_gateway_user_is_refused_everything_else(
    as_gateway: redis.Redis, admin: redis.Redis
) -> None:
    admin.set("other:key", "the admin's")
    admin.set("gw:probe", "kept")
    for label, command in FORBIDDEN:
        admin.acl_log_reset()
        with pytest.raises(redis.ResponseError) as caught:
            as_gateway.execute_command(*command)
        # NOPERM at the top level; inside a script Redis wraps it in the script's error
        refusal = isinstance(caught.value, redis.exceptions.NoPermissionError)
        refusal = refusal or "The user executing the script can't" in str(caught.value)
        assert refusal, (label, caught.value)
        (logged,) = admin.acl_log()  # the ACL refused it, not something else
        assert logged["username"] == "gateway", (label, logged)
    assert admin.get("other:key") == "the admin's"  # nothing was written or flushed
    assert admin.get("gw:probe") == "kept"
    assert admin.config_get("appendonly") == {"appendonly": "yes"}
    # what it may do, it can: the same kinds of command inside its prefix
    assert as_gateway.set("gw:probe", "mine") and as_gateway.get("gw:probe") == "mine"
    assert as_gateway.eval("return redis.call('GET', KEYS[1])", 1, "gw:probe") == "mine"
    admin.delete("other:key", "gw:probe")
    measured(
        f"T23: {len(FORBIDDEN)}/{len(FORBIDDEN)} forbidden commands refused to 'gateway' by "
        "the ACL (one ACL LOG entry each): " + ", ".join(label for label, _ in FORBIDDEN)
    )


# -- (c) transport -------------------------------------------------------------------------------
def refused_within(make_client: Any) -> tuple[str, float]:
    started = time.monotonic()
    client = make_client()
    try:
        with pytest.raises(redis.RedisError) as caught:
            client.ping()
    finally:
        client.close()
    return str(caught.value), time.monotonic() - started


def test_plaintext_and_unverified_tls_are_refused(acl_redis: AclRedis) -> None:
    if not acl_redis.tls:
        pytest.skip("this redis-server was built without TLS (BUILD_TLS=no): transport not tested")
    # the gateway's own client, told redis:// instead of rediss://
    plaintext_url = acl_redis.url("gateway").split("?", 1)[0].replace("rediss://", "redis://", 1)
    plain, plain_s = refused_within(lambda: connect(plaintext_url))
    rogue, rogue_s = refused_within(
        lambda: connect(acl_redis.url("gateway", ca=acl_redis.rogue_ca))
    )
    assert "certificate verify failed" in rogue, rogue
    no_ca = acl_redis.url("gateway").split("?", 1)[0]  # the system's CAs: not ours either
    system, _ = refused_within(lambda: connect(no_ca))
    assert "certificate verify failed" in system, system
    wrong_name, _ = refused_within(lambda: connect(acl_redis.url("gateway", host="localhost")))
    assert "certificate verify failed" in wrong_name or "hostname" in wrong_name, wrong_name
    # and the right CA with the right name works: the refusals are about trust, not setup
    good = connect(acl_redis.url("gateway"))
    try:
        assert good.ping()
        kwargs = good.connection_pool.connection_kwargs
        assert kwargs.get("ssl_cert_reqs", "required") == "required"
    finally:
        good.close()
    measured(
        f"T23: plaintext to the TLS port refused in {plain_s * 1000:.0f} ms ({plain!r}); "
        f"an unknown CA refused in {rogue_s * 1000:.0f} ms; the system CAs and a host name "
        "not in the certificate refused too"
    )


# -- (d) who may authenticate ---------------------------------------------------------------------
def raw_client(acl_redis: AclRedis, **who: Any) -> redis.Redis:
    """A bare client (RESP2, no client name, no retries) that authenticates as `who` says."""
    tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(acl_redis.ca)} if acl_redis.tls else {}
    return redis.Redis(
        "127.0.0.1",
        acl_redis.port,
        socket_timeout=2,
        protocol=2,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
        **tls,
        **who,
    )


def test_default_is_off_and_healthcheck_may_only_ping(
    acl_redis: AclRedis, admin: redis.Redis
) -> None:
    def attempt(**who: Any) -> str:
        client = raw_client(acl_redis, **who)
        try:
            with pytest.raises(redis.RedisError) as caught:
                client.ping()
            return str(caught.value)
        finally:
            client.close()

    nobody = attempt()  # no AUTH: the connection is the default user's, which is off
    default = attempt(password="anything")  # AUTH <password> means AUTH default <password>
    named = attempt(username="default", password="")
    wrong = attempt(username="gateway", password="not-the-password")
    assert "Authentication required" in nobody, nobody
    for answer in (default, named, wrong):
        assert "invalid username-password pair or user is disabled" in answer, answer
    default_user: Any = admin.acl_getuser("default")
    assert "off" in default_user["flags"], default_user

    health = raw_client(
        acl_redis, username="healthcheck", password=acl_redis.passwords["healthcheck"]
    )
    try:
        assert health.ping()
        for command in (("GET", "gw:anything"), ("INFO",), ("CLIENT", "SETNAME", "probe")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                health.execute_command(*command)
    finally:
        health.close()
    measured(f"T23: default user refused ({default!r}); unauthenticated PING refused ({nobody!r})")


@pytest.mark.parametrize("option", ["ssl_cert_reqs=none", "ssl_check_hostname=false"])
def test_a_url_cannot_turn_certificate_checks_off(acl_redis: AclRedis, option: str) -> None:
    if not acl_redis.tls:
        pytest.skip("this redis-server was built without TLS (BUILD_TLS=no): transport not tested")
    host = "localhost" if "hostname" in option else "127.0.0.1"
    ca = acl_redis.ca if "hostname" in option else acl_redis.rogue_ca
    with pytest.raises((RedisUrlError, redis.ConnectionError)):
        client = connect(acl_redis.url("gateway", host=host, ca=ca) + "&" + option)
        try:
            client.ping()
        finally:
            client.close()

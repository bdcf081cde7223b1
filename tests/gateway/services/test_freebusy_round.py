"""A cold query's Redis work is done for all its grants at once (services/freebusy_round.py):
seen from the real server, with MONITOR and its own counters."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask

from gateway.storage import keys
from gateway.storage.answers import GENERATION
from gateway.storage.freebusy_cache import fetch_lock
from tests.hosts import DAY, FRONTEND, Hosts

DAY_START, DAY_END = DAY
END_MARK = "end-of-monitor"


@pytest.fixture
def app(build_gateway: Any, make_env: Any) -> Flask:
    return build_gateway(make_env(GATEWAY_FREEBUSY_DEADLINE_SECONDS="5"))


@pytest.fixture
def hosts(app: Flask, sign_in: Any, another_browser: Any) -> Hosts:
    return Hosts(app, sign_in, another_browser)


def query(app: Flask, rooms: list[str], start: datetime = DAY_START) -> Any:
    end = start + timedelta(days=1)
    return app.extensions["gateway"].freebusy.query(FRONTEND, rooms, start, end)


def grants_with_rooms(hosts: Hosts, extra_google: int) -> list[tuple[str, str, list[str]]]:
    """(uid, gid, rooms): Alice's Google grant, Carol's Microsoft one and `extra_google`
    more Google hosts, two rooms each."""
    made = [hosts.host("google", "alice@example.com"), hosts.host("microsoft")]
    for n in range(extra_google):
        email = f"host{n}@example.com"
        hosts.emulator.client.add_account(email, f"Host {n}", "google")
        made.append(hosts.host("google", email))
    found = []
    for at, (uid, gid) in enumerate(made):
        rooms = [hosts.room(f"room-{at}-{r}", uid, gid) for r in range(2)]
        found.append((uid, gid, rooms))
    return found


@contextmanager
def monitored(client: redis.Redis) -> Iterator[list[list[str]]]:
    """Every command the server runs meanwhile, as its words (MONITOR)."""
    seen: list[list[str]] = []
    started = threading.Event()

    def listen() -> None:
        with client.monitor() as monitor:
            started.set()
            for line in monitor.listen():
                words = str(line["command"]).split(" ")
                if END_MARK in line["command"]:
                    return
                seen.append(words)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    started.wait(5)
    client.ping()  # the MONITOR is in place once its own client answers
    yield seen
    client.echo(END_MARK)
    listener.join(10)


def named(seen: list[list[str]], command: str, key: str) -> int:
    return sum(1 for words in seen if words[0].upper() == command and key in words[1:])


def test_a_cold_query_reads_each_grant_once_and_runs_its_scripts_in_pipelines(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    grants = grants_with_rooms(hosts, extra_google=3)
    rooms = [room for _, _, made in grants for room in made]
    with monitored(redis_client) as seen:
        answer = query(app, rooms)
    assert {answer.rooms[room].status for room in rooms} == {"ok"}
    for uid, gid, _ in grants:
        assert named(seen, "HGETALL", keys.grant(uid, gid)) == 1  # the token and calendars
        assert named(seen, "SET", fetch_lock(uid, gid)) == 1
        assert named(seen, "EVAL", fetch_lock(uid, gid)) == 2  # lock and reads; unlock
    commands = Counter(words[0].upper() for words in seen)
    # every script of the cold path went as EVAL in a round's pipeline: none per grant
    # by its digest (EVALSHA, what a registered script sends when called on its own)
    assert commands["EVALSHA"] == 0
    admits = [w for w in seen if w[0].upper() == "EVAL" and any(":hold:" in x for x in w)]
    assert len(admits) == len(grants)


def reads_processed(client: redis.Redis) -> int:
    return int(client.info("stats")["total_reads_processed"])


def test_a_cold_query_costs_a_few_round_trips_whatever_its_grants(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    """Grant by grant, a cold grant made eleven round trips (lock and reads, admit, its
    grant hash twice, bindings, watched lookup twice, write, generation, success,
    unlock); a round makes a fixed few (rooms, cached days, the round's reads, admits,
    grant states) and at most one group commit per grant (fewer when grants finish
    together): the watched lookup (two pipelines), then the writes and the generation
    bump (one); and its token's last use at most once a minute."""
    grants = grants_with_rooms(hosts, extra_google=6)
    rooms = [room for _, _, made in grants for room in made]
    query(app, rooms, DAY_START + timedelta(days=1))  # the pool's connections, once
    before = reads_processed(redis_client)
    answer = query(app, rooms)
    spent = reads_processed(redis_client) - before - 1  # less this INFO's own read
    assert {answer.rooms[room].status for room in rooms} == {"ok"}
    assert spent <= 10 + 3 * len(grants), spent  # grant by grant: 8 + 11 a grant


def test_a_group_commit_bumps_the_generation_after_its_writes_in_the_same_pipeline(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    grants = grants_with_rooms(hosts, extra_google=3)
    rooms = [room for _, _, made in grants for room in made]
    generation = int(redis_client.get(GENERATION) or 0)
    with monitored(redis_client) as seen:
        query(app, rooms)
    bumps = [at for at, words in enumerate(seen) if named([words], "INCRBY", GENERATION)]
    writes = [
        at
        for at, words in enumerate(seen)
        if any(named([words], "EVAL", keys.grant_cached(uid, gid)) for uid, gid, _ in grants)
    ]
    assert len(writes) == len(grants)
    assert 1 <= len(bumps) <= len(grants)  # one a group commit, none of its own
    assert bumps[-1] > writes[-1]  # the last write is followed by a bump: nothing stale kept
    assert all(any(w < b for w in writes) for b in bumps)  # never a bump before any write
    assert int(redis_client.get(GENERATION) or 0) == generation + len(bumps)


@pytest.mark.redis_deployments  # a Cluster splits the round's pipelines per node
def test_every_grant_of_a_round_is_written_and_unlocked_and_then_served_from_the_cache(
    app: Flask, hosts: Hosts, redis_client: redis.Redis, redis_contents: Callable[[], str]
) -> None:
    grants = grants_with_rooms(hosts, extra_google=4)
    rooms = [room for _, _, made in grants for room in made]
    generation = int(redis_client.get(GENERATION) or 0)
    query(app, rooms)
    app.extensions["gateway"].freebusy.fetcher.wait_idle(10)
    assert int(redis_client.get(GENERATION) or 0) > generation  # on a Cluster: apart, after
    for uid, gid, made in grants:
        assert not redis_client.exists(fetch_lock(uid, gid))
        cached = redis_client.smembers(keys.grant_cached(uid, gid))
        assert {str(name).split(":")[5] for name in cached} == set(made)
    calls = hosts.emulator.client.calls()
    again = query(app, rooms)  # all from the cache
    assert {again.rooms[room].status for room in rooms} == {"ok"}
    assert hosts.emulator.client.calls() == calls


@pytest.mark.redis_deployments  # a Cluster splits the round's pipelines per node
def test_a_failing_provider_leaves_no_lock_and_opens_its_breaker_while_others_are_written(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    grants = grants_with_rooms(hosts, extra_google=2)  # three Google grants, one Microsoft
    rooms = [room for _, _, made in grants for room in made]
    hosts.emulator.client.fault("google.freebusy", status=500, times=-1)
    answer = query(app, rooms)
    microsoft = set(grants[1][2])
    assert {answer.rooms[r].status for r in rooms if r not in microsoft} == {"unknown"}
    assert {answer.rooms[r].status for r in microsoft} == {"ok"}
    app.extensions["gateway"].freebusy.fetcher.wait_idle(10)
    for uid, gid, _ in grants:
        assert not redis_client.exists(fetch_lock(uid, gid))
    breaker = app.extensions["gateway"].freebusy.breaker
    assert breaker.state("google") == "open"  # three grants' failures, counted as they came
    assert breaker.state("microsoft") == "closed"


@pytest.mark.redis_deployments  # a Cluster splits the round's pipelines per node
def test_a_grant_another_process_is_fetching_is_left_to_it_then_read_once(
    app: Flask, hosts: Hosts, redis_client: redis.Redis
) -> None:
    """The round locks nothing another process holds: that grant waits for the holder (here
    a lock that lapses, as a dead holder's would) and is then fetched once, alone."""
    uid, gid = hosts.host("google", "alice@example.com")
    room = hosts.room("atlas", uid, gid)
    redis_client.set(fetch_lock(uid, gid), "another-process", px=1000)
    calls = hosts.calls("google.freebusy")
    answer = query(app, [room])
    assert answer.rooms[room].status == "ok"
    assert hosts.calls("google.freebusy") == calls + 1
    assert not redis_client.exists(fetch_lock(uid, gid))

"""Warm `POST /v1/freebusy` for 50 rooms on a three-master Redis Cluster, against the same
gateway on one redis-server in the same run.

    python -m bench.freebusy_cluster [--seconds 8] [--rounds 5] [--connections 32]

Two warm states are built side by side, each exactly as bench/freebusy_warm.py builds its
own (a host, a grant, 50 bound rooms, an API client, a warm cache for tomorrow): one on a
single redis-server, one on a Redis Cluster of three masters started as the cluster suites
start theirs (tests/redis_cluster.py: `redis-cli --cluster create`, AOF on like the single
server). Then `gateway:create_app()` under gunicorn with deploy/gunicorn.conf.py serves
each in turn, `rounds` times, under the same load.

Target (issue 17): on the cluster at least 0.9 x the single server's requests/s. The p99
row reports the cluster's tail against the single server's (no target). The load
generator shares the machine's cores with gunicorn and all four redis-servers: only the
ratios measured in one run mean anything. Not a test.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from bench.freebusy_warm import GATEWAY, ROOMS, compared, load_run, warm_gateway
from bench.load import Load
from bench.report import Row, at_least

DEPLOYMENTS = ("single", "cluster")


def measure(
    seconds: float = 8.0,
    rounds: int = 5,
    connections: int = 32,
    settle: float = 1.0,
    workers: int | None = None,
    rooms: int = ROOMS,
) -> list[Row]:
    """The gateway on one server and on the cluster take turns, `rounds` times; medians of
    req/s and p99, each round's cluster/single ratio printed."""
    results: dict[str, list[Load]] = {name: [] for name in DEPLOYMENTS}
    with ExitStack() as stack:
        warm = {
            name: stack.enter_context(warm_gateway(rooms, cluster=name == "cluster"))
            for name in DEPLOYMENTS
        }
        for number in range(rounds):
            for name in DEPLOYMENTS:
                found = load_run(
                    warm[name], GATEWAY, seconds, connections, settle=settle, workers=workers
                )
                results[name].append(found)
                print(f"cluster round {number + 1} {name:7s}: {found.line()}", flush=True)
    print(
        f"cluster config: deploy/gunicorn.conf.py, {connections} keep-alive connections, "
        f"{seconds:g} s x {rounds} rounds, {rooms} rooms, one day, 3 masters no replicas",
        flush=True,
    )

    return compared(
        "cluster",
        f"warm free/busy, {rooms} rooms, Redis Cluster",
        results["cluster"],
        results["single"],
        "the same on one Redis server",
        (at_least(0.9), None),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    options = parser.parse_args()
    from bench.report import table

    print(table(measure(options.seconds, options.rounds, options.connections)))


if __name__ == "__main__":
    main()

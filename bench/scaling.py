"""Warm free/busy throughput with 1, 2 and 4 gunicorn workers, against the 1-worker run.

    python -m bench.scaling [--workers 1 2 4] [--seconds 6] [--rounds 2] [--connections 32]

The same warm state as bench/freebusy_warm.py (50 bound rooms, warm cache, an API
client); `gunicorn -c deploy/gunicorn.conf.py --workers N 'gateway:create_app()'` (gthread,
4 threads per worker) on a real redis-server, loaded from a separate load-generator process
pair over 32 keep-alive connections. Worker counts take turns, `rounds` times; the median
req/s of each is compared with the 1-worker median.

Read it with the machine in mind: the load generator, redis-server and the workers share
the same cores (2 here), so 4 workers cannot be twice 2, and past the core count the ratio
shows contention, not the gateway's scaling. No target: PERFORMANCE.md names none.
"""

from __future__ import annotations

import argparse

from bench.freebusy_warm import GATEWAY, ROOMS, load_run, warm_gateway
from bench.load import Load
from bench.report import Row, over_rounds


def measure(
    workers: tuple[int, ...] = (1, 2, 4),
    seconds: float = 6.0,
    rounds: int = 5,
    connections: int = 32,
    settle: float = 1.0,
    rooms: int = ROOMS,
) -> list[Row]:
    """Median req/s per worker count; each row's baseline is the first count's median."""
    results: dict[int, list[Load]] = {count: [] for count in workers}
    with warm_gateway(rooms) as warm:
        for number in range(rounds):
            for count in workers:
                found = load_run(warm, GATEWAY, seconds, connections, workers=count, settle=settle)
                results[count].append(found)
                print(f"scaling round {number + 1}, {count} worker(s): {found.line()}", flush=True)
    first = workers[0]
    return [
        over_rounds(
            f"warm free/busy, {count} worker{'s' if count > 1 else ''}",
            [r.rps for r in results[count]],
            "req/s",
            None if count == first else [r.rps for r in results[first]],
            f"{first} worker",
        )
        for count in workers
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    options = parser.parse_args()
    from bench.report import table

    rows = measure(tuple(options.workers), options.seconds, options.rounds, options.connections)
    print(table(rows))


if __name__ == "__main__":
    main()

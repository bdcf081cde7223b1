"""Every benchmark runs end to end at tiny sizes (the numbers are not looked at: timing
belongs to `make bench`, never to a test)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.freebusy_warm import BASELINE
from bench.report import Row, at_least, at_most, table
from bench.suite import SUITE, Benchmark
from bench.warm_cpu import cpu_rounds


@pytest.mark.parametrize("benchmark", SUITE, ids=[b.module for b in SUITE])
def test_each_benchmark_runs_at_tiny_sizes(benchmark: Benchmark) -> None:
    rows = benchmark.run(quick=True)
    assert rows
    for row in rows:
        # a difference of two timings (the gateway's own time: its round trip less the
        # provider's) can come out at or below zero at one sample on a busy machine
        difference = "own time" in row.name
        assert math.isfinite(row.value) and (row.value > 0 or difference), row
        assert row.baseline is None or (math.isfinite(row.baseline) and row.baseline > 0), row
        assert row.verdict in {"pass", "MISS", "-"}
    assert "same-run baseline" in table(rows)


def test_the_warm_cpu_probe_answers_every_request_and_times_both_apps() -> None:
    spent = cpu_rounds(requests=5, rounds=1)  # it stops at any answer other than 200
    assert set(spent) == {"gateway", "baseline"}
    assert all(len(values) == 1 and values[0] > 0 for values in spent.values())


def test_a_row_is_judged_on_its_ratio_against_its_target() -> None:
    fast = Row("x", 30.0, "ms", 10.0, "one call", at_most(3.0))
    slow = Row("x", 31.0, "ms", 10.0, "one call", at_most(3.0))
    busy = Row("y", 500.0, "req/s", 1000.0, "bare", at_least(0.6))
    assert (fast.verdict, slow.verdict, busy.verdict) == ("pass", "MISS", "MISS")
    assert Row("z", 7416.0, "B").verdict == "-"
    assert "7,416 B" in table([Row("z", 7416.0, "B")])


def test_the_sign_in_benchmark_can_say_which_request_took_the_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m bench.signin --steps`: each request of a Microsoft round trip, the
    form_post POST among them, and the bare provider's two, in the order a browser sends them."""
    from bench.signin import measure

    measure(sign_ins=1, warmup=0, providers=("microsoft",), workers=1, settle=0.0, steps=True)
    printed = [line.split()[1:4] for line in capsys.readouterr().out.splitlines()]
    steps = [line for line in printed if line and (line[0].isdigit() or line[0] == "bare")]
    assert [s[1:] for s in steps if s[0] != "bare"] == [
        ["GET", "/auth/login/microsoft"],
        ["GET", "/organizations/oauth2/v2.0/authorize"],
        ["POST", "/auth/callback/microsoft"],
        ["GET", "/auth/callback/microsoft"],
        ["GET", "/v1/me"],
    ]
    assert [s[2] for s in steps if s[0] == "bare"] == ["GET", "POST"]


def test_the_warm_benchmark_counts_each_workers_connections(tmp_path: Any) -> None:
    """`connections_per_worker`: every kept-alive connection to a gunicorn is counted once,
    with the worker holding it (the warm rounds print it: an uneven spread queues one
    worker). A real gunicorn with the production config, the bare baseline app."""
    import http.client

    from bench.stack import Stack, connections_per_worker, gunicorn

    with Stack() as stack:
        env = stack.process_env(BENCH_REDIS_URL=stack.redis.url)
        with gunicorn(BASELINE, stack.port, env, tmp_path / "g.log", workers=2, settle=0.0):
            kept = [http.client.HTTPConnection("127.0.0.1", stack.port) for _ in range(5)]
            for connection in kept:
                connection.request("GET", "/healthz")  # accepted: a worker holds it
                connection.getresponse().read()
            counts = connections_per_worker(stack.port)
            for connection in kept:
                connection.close()
    assert sum(counts) == 5
    assert len(counts) == 2 and counts == sorted(counts, reverse=True)


def test_the_even_spread_worker_serves_every_connection_of_a_burst(tmp_path: Any) -> None:
    """bench/balanced_worker.py (a benchmark option): more connections at once than the
    workers have threads, each asking three times; none is refused, dropped or left waiting,
    and the workers hold them all, under the production config with that worker class."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    from bench.stack import Stack, connections_per_worker, gunicorn

    burst = 24  # three times the 2 x 4 threads
    with Stack() as stack:
        env = stack.process_env(BENCH_REDIS_URL=stack.redis.url)
        env["GUNICORN_CMD_ARGS"] = "--worker-class bench.balanced_worker.BalancedWorker"
        log = tmp_path / "g.log"
        with gunicorn(BASELINE, stack.port, env, log, workers=2, settle=0.0):
            kept = [
                http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
                for _ in range(burst)
            ]

            def ask(connection: http.client.HTTPConnection) -> list[int]:
                statuses = []
                for _ in range(3):
                    connection.request("POST", "/v1/freebusy")
                    answer = connection.getresponse()
                    answer.read()
                    statuses.append(answer.status)
                return statuses

            with ThreadPoolExecutor(burst) as pool:
                answered = list(pool.map(ask, kept))
            held = sum(connections_per_worker(stack.port))
            for connection in kept:
                connection.close()
    assert answered == [[200, 200, 200]] * burst
    assert held == burst
    assert "Using worker: bench.balanced_worker.BalancedWorker" in log.read_text()


def test_the_provider_cpu_probe_times_both_providers_on_both_sides() -> None:
    """`python -m bench.provider_cpu`: serial free/busy calls of a Google and a Microsoft
    grant against the kept-alive emulator (it stops at any call that fails)."""
    from bench.provider_cpu import PROVIDERS, measure

    found = measure(calls=3, rounds=1)
    assert set(found) == set(PROVIDERS)
    assert all(len(rounds) == 1 and rounds[0][0] > 0 for rounds in found.values())

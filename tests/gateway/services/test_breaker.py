"""The breaker counts slow answers as well as failures (issue 15 item 7), in real Redis:
SLOW_CALLS slow answers in a row open it; a prompt answer resets the count; a slow answer
neither counts as nor clears a failure; after a breaker opened on slowness, a probe that
fails opens it again, and a prompt one closes it."""

from __future__ import annotations

import time

import redis

from gateway.services.breaker import CLOSED, OPEN, PROBE, CircuitBreaker
from gateway.storage.breaker import BreakerStore

SLOW, PROMPT = 3.0, 0.1  # seconds an answer took, against the breaker's 2 s limit


def breaker(client: redis.Redis) -> CircuitBreaker:
    return CircuitBreaker(BreakerStore(client), threshold=5, cool_down_seconds=0.2, slow_calls=5)


def until_half_open(found: CircuitBreaker) -> None:
    give_up = time.monotonic() + 30
    while found.state("google") != "half-open":
        assert time.monotonic() < give_up, "the cool-down never ended"
        time.sleep(0.02)


def test_five_slow_answers_in_a_row_open_it_and_a_prompt_one_resets_the_count(
    redis_client: redis.Redis,
) -> None:
    found = breaker(redis_client)
    for _ in range(4):
        found.answered("google", SLOW)
    found.answered("google", PROMPT)
    for _ in range(4):
        found.answered("google", SLOW)
    assert found.state("google") == CLOSED
    assert found.admit("google", "g1") == CLOSED
    found.answered("google", SLOW)
    assert found.state("google") == OPEN
    assert found.admit("google", "g1") == OPEN
    assert found.state("microsoft") == CLOSED  # per provider


def test_a_slow_answer_neither_is_nor_clears_a_failure(redis_client: redis.Redis) -> None:
    found = breaker(redis_client)
    for _ in range(4):
        found.failure("google")
    found.answered("google", SLOW)
    assert found.state("google") == CLOSED
    found.failure("google")
    assert found.state("google") == OPEN


def test_after_slowness_opened_it_a_failed_probe_reopens_and_a_prompt_one_closes(
    redis_client: redis.Redis,
) -> None:
    found = breaker(redis_client)
    for _ in range(5):
        found.answered("google", SLOW)
    until_half_open(found)
    assert found.admit("google", "g1") == PROBE
    assert found.admit("google", "g2") == OPEN  # one probe at a time, across processes
    found.failure("google")
    assert found.state("google") == OPEN

    until_half_open(found)
    assert found.admit("google", "g1") == PROBE
    found.answered("google", PROMPT)
    assert found.state("google") == CLOSED
    assert found.admit("google", "g2") == CLOSED
    assert found.store.slow_answers("google") == 0

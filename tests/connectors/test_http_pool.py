"""Google free/busy calls share one pool of kept-alive httplib2 clients across grants and
threads (connectors/http.py HttpPool), instead of one client per thread, and one built
Resource, each call executed with its own authorised http (issue 17)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import httplib2
import pytest

from connectors.http import BoundedHttp, HttpPool
from tests.connectors.grants_support import ALICE, FREEBUSY, google, grant

START = datetime(2026, 11, 25, tzinfo=UTC)
END = datetime(2026, 11, 26, tzinfo=UTC)
BOB = "bob@example.com"


class Made:
    """A pool's factory that keeps every client it made (real httplib2 clients)."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        self.ca_bundle = ca_bundle
        self.clients: list[httplib2.Http] = []

    def __call__(self) -> httplib2.Http:
        self.clients.append(BoundedHttp(self.ca_bundle))
        return self.clients[-1]


def test_a_client_returned_is_the_next_one_lent() -> None:
    made = Made()
    pool = HttpPool(made)
    with pool.borrowed() as first:
        pass
    with pool.borrowed() as second:
        pass
    assert second is first
    assert len(made.clients) == 1


def test_clients_in_use_at_once_are_distinct_and_the_idle_ones_are_kept_up_to_the_limit() -> None:
    made = Made()
    pool = HttpPool(made, keep=2)
    all_in = threading.Barrier(3)
    lent: list[httplib2.Http] = []

    def borrow() -> None:
        with pool.borrowed() as http:
            lent.append(http)
            all_in.wait(timeout=30)

    threads = [threading.Thread(target=borrow) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(http) for http in lent}) == 3
    with pool.borrowed() as a, pool.borrowed() as b, pool.borrowed() as c:
        again = {id(a), id(b), id(c)}
    assert len(again & {id(http) for http in lent}) == 2  # two kept, one closed and new
    assert len(made.clients) == 4


def test_a_client_whose_call_raised_is_never_lent_again() -> None:
    made = Made()
    pool = HttpPool(made)
    with pytest.raises(httplib2.HttpLib2Error), pool.borrowed():
        raise httplib2.HttpLib2Error("the connection broke mid-answer")
    with pool.borrowed() as http:
        assert http is made.clients[1]


def test_two_grants_calls_go_through_one_pooled_client_each_with_its_own_token(
    emulator: Any,
) -> None:
    connector = google(emulator)
    made = Made(str(emulator.ca_path))
    connector._http_pool = HttpPool(made)
    alice = grant(connector, emulator, ALICE, FREEBUSY)
    bob = grant(connector, emulator, BOB, FREEBUSY)
    emulator.client.add_event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    emulator.client.add_event(BOB, "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z")

    answers = [
        connector.free_busy(str(tokens.access_token), ["primary"], START, END)["primary"].busy
        for tokens in (alice, bob)
    ]

    assert [[(s.hour, e.hour) for s, e in busy] for busy in answers] == [[(9, 10)], [(13, 14)]]
    assert len(made.clients) == 1  # the second grant borrowed the first one's client


def test_threads_calling_for_different_grants_share_one_resource_and_each_gets_its_own_answer(
    emulator: Any,
) -> None:
    connector = google(emulator)
    alice = grant(connector, emulator, ALICE, FREEBUSY)
    bob = grant(connector, emulator, BOB, FREEBUSY)
    emulator.client.add_event(ALICE, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    emulator.client.add_event(BOB, "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z")
    tokens = [str(alice.access_token), str(bob.access_token)] * 4
    all_in = threading.Barrier(len(tokens))
    answers: dict[int, list[tuple[int, int]]] = {}
    resources: set[int] = set()

    def ask(n: int) -> None:
        all_in.wait(timeout=30)  # every thread asks at once, through the one Resource
        busy = connector.free_busy(tokens[n], ["primary"], START, END)["primary"].busy
        answers[n] = [(s.hour, e.hour) for s, e in busy]
        resources.add(id(connector._freebusy_service()))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == {n: [(9, 10)] if n % 2 == 0 else [(13, 14)] for n in range(len(tokens))}
    assert len(resources) == 1  # built once, by whichever thread came first

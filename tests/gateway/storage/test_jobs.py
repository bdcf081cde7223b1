"""The job queue's Redis side (storage/jobs.py), on one server and on a Redis Cluster: huey's
queue and schedule on the gateway's own client, JSON messages only, and the ledger that
lets one tick per period run a job."""

from __future__ import annotations

import datetime
import pickle
import time

import pytest
import redis
from huey import Huey
from huey.registry import Message

from gateway.storage.jobs import JobLedger, JobQueueStorage, JsonMessages, job_key

pytestmark = pytest.mark.redis_deployments


def test_every_key_of_the_queue_shares_one_cluster_slot(redis_deployment: str) -> None:
    from redis.cluster import key_slot

    names = [job_key("queue"), job_key("schedule"), job_key("done", "retention", "7")]
    names += [job_key("lease", "retention"), job_key("started", "retention")]
    assert len({key_slot(name.encode()) for name in names}) == 1
    assert all(name.startswith("gw:{jobs}:") for name in names)  # the ACL's gw:* covers them


def test_huey_enqueues_and_runs_a_task_through_the_gateway_client(
    redis_deployment: str, redis_client: redis.Redis
) -> None:
    huey = Huey(
        "test",
        results=False,
        serializer=JsonMessages(),
        storage_class=JobQueueStorage,
        client=redis_client,
    )
    done: list[int] = []

    @huey.task()
    def add(a: int, b: int) -> None:
        done.append(a + b)

    add(2, 3)
    add.schedule((4, 5), delay=60)  # through the schedule and its Lua script
    stored = redis_client.lrange(job_key("queue"), 0, -1)
    assert len(stored) == 2 and all(m.startswith("{") for m in stored)  # JSON, not pickles

    for task in (huey.dequeue(), huey.dequeue()):  # what a consumer's worker does
        huey.execute(task) if huey.ready_to_run(task) else huey.add_schedule(task)
    assert redis_client.zcard(job_key("schedule")) == 1
    later = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(90)
    [due] = huey.read_schedule(later)  # popped atomically by huey's script
    assert redis_client.zcard(job_key("schedule")) == 0
    huey.execute(due, timestamp=later)
    assert sorted(done) == [5, 9]
    assert redis_client.llen(job_key("queue")) == 0


def test_a_planted_pickle_is_never_unpickled(redis_client: redis.Redis) -> None:
    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("unpickled!",))

    with pytest.raises(ValueError):
        JsonMessages().deserialize(pickle.dumps(Boom()))
    with pytest.raises(ValueError):
        JsonMessages().deserialize(b'{"id": "1", "shell": "rm -rf /"}')
    with pytest.raises(TypeError):
        JsonMessages().serialize({"a": "result"})
    message = Message("1", "t", datetime.datetime(2026, 1, 2, 3, 4, 5), 0, 0, None, (1,), {})
    assert JsonMessages().deserialize(JsonMessages().serialize(message)) == message


def test_a_period_is_claimed_once_then_done(
    redis_deployment: str, redis_client: redis.Redis
) -> None:
    ledger = JobLedger(redis_client)
    first = ledger.claim("retention", 7, "a 7 1", 5)
    assert (first.granted, first.outcome) == (True, "claimed")
    assert ledger.claim("retention", 7, "b 7 1", 5).outcome == "busy"

    ledger.finish("retention", 7, "a 7 1", at=time.time(), keep_seconds=60, ok=True)

    assert ledger.is_done("retention", 7)
    assert ledger.claim("retention", 7, "b 7 2", 5).outcome == "done"
    assert ledger.claim("retention", 8, "b 8 3", 5).outcome == "claimed"  # the next period
    assert 0 < redis_client.ttl(job_key("done", "retention", "7")) <= 60


def test_a_run_whose_lease_ran_out_is_found_abandoned(
    redis_deployment: str, redis_client: redis.Redis
) -> None:
    ledger = JobLedger(redis_client)
    assert ledger.claim("refresh", 1, "dead 1 1", 0.2).granted
    time.sleep(0.4)  # its worker was killed: nobody renews the lease

    again = ledger.claim("refresh", 1, "alive 1 2", 5)

    assert (again.outcome, again.abandoned) == ("abandoned", "dead 1 1")
    assert not ledger.renew("refresh", "dead 1 1", 5)  # the dead run's lease is not its own
    assert ledger.renew("refresh", "alive 1 2", 5)


def test_a_failed_run_leaves_its_period_open(
    redis_deployment: str, redis_client: redis.Redis
) -> None:
    ledger = JobLedger(redis_client)
    assert ledger.claim("retention", 3, "a 3 1", 5).granted
    ledger.finish("retention", 3, "a 3 1", at=time.time(), keep_seconds=60, ok=False)
    assert not ledger.is_done("retention", 3)
    assert ledger.claim("retention", 3, "b 3 2", 5).outcome == "claimed"  # retried, not "died"

"""The consent history in Redis (issue 17): one compact list per person, and histories written
before it as a stream still read, in order, and deleted with it."""

from __future__ import annotations

import json
import time

import redis

from gateway.storage import keys
from gateway.storage.consent_events import TEXTS
from gateway.storage.consents import GIVEN, REFUSED, WITHDRAWN, ConsentStore

# a consent text's digest, not a secret
DIGEST = (
    "2b9e4b76f600518cdc58371ac185fa8a0f6f6d8891a917f3db0a22380bef91ac"  # pragma: allowlist secret
)
SCOPE = "https://www.googleapis.com/auth/calendar.events.freebusy"


def give(store: ConsentStore, uid: str, action: str = GIVEN) -> None:
    store.record(
        uid,
        purpose="room-availability",
        provider="google",
        action=action,
        version="3",
        digest=DIGEST,
        requested=(SCOPE,),
        granted=(SCOPE, "openid"),
        grant="G1" if action == GIVEN else "",
    )


def old_stream_entry(client: redis.Redis, uid: str, action: str, at: float) -> None:
    """An event as the gateway wrote it before issue 17: a stream entry, a field per datum."""
    client.xadd(
        keys.consent_log_stream(uid),
        {
            "purpose": "room-availability",
            "provider": "google",
            "action": action,
            "version": "2",
            "digest": "1" * 64,
            "requested": SCOPE,
            "granted": f"{SCOPE} openid",
            "grant": "G0",
            "at": str(at),
        },
    )


def test_an_event_is_one_compact_list_element_holding_everything_the_history_shows(
    redis_client: redis.Redis,
) -> None:
    store = ConsentStore(redis_client)
    before = time.time()
    give(store, "U1")
    assert redis_client.type(keys.consent_log("U1")) == "list"
    [raw] = redis_client.lrange(keys.consent_log("U1"), 0, -1)
    assert " " not in raw.replace("#0 openid", "")  # no whitespace but the scopes'
    # a granted scope that was requested is written as its place among the requested; the
    # text's digest is kept once, for every event of that text (0: "the one kept")
    assert json.loads(raw)[1:] == [
        "room-availability",
        "google",
        GIVEN,
        "3",
        0,
        SCOPE,
        "#0 openid",
        "G1",
    ]
    assert redis_client.hgetall(TEXTS) == {"room-availability|3": DIGEST}
    [event] = store.history("U1")
    assert (event.purpose, event.provider, event.action) == ("room-availability", "google", GIVEN)
    assert (event.version, event.digest, event.grant) == ("3", DIGEST, "G1")
    assert event.requested == (SCOPE,) and event.granted == (SCOPE, "openid")
    assert before - 0.001 <= event.at <= time.time()
    [in_force] = store.in_force("U1")
    assert (in_force.version, in_force.grant) == ("3", "G1")
    assert abs(in_force.given - event.at) < 0.002


def test_a_history_written_as_a_stream_before_issue_17_reads_first_and_goes_with_the_list(
    redis_client: redis.Redis,
) -> None:
    store = ConsentStore(redis_client)
    old_stream_entry(redis_client, "U1", GIVEN, 1_700_000_000.5)
    old_stream_entry(redis_client, "U1", WITHDRAWN, 1_700_000_100.25)
    give(store, "U1", REFUSED)
    history = store.history("U1")
    assert [(e.action, e.version) for e in history] == [
        (GIVEN, "2"),
        (WITHDRAWN, "2"),
        (REFUSED, "3"),
    ]
    assert history[0].at == 1_700_000_000.5 and history[0].digest == "1" * 64
    assert history[0].granted == (SCOPE, "openid") and history[0].grant == "G0"
    assert redis_client.xlen(keys.consent_log_stream("U1")) == 2  # never written again

    store.delete_log("U1")
    assert redis_client.exists(keys.consent_log("U1"), keys.consent_log_stream("U1")) == 0
    assert store.history("U1") == []


def test_retention_finds_histories_of_either_form_whose_owner_holds_nothing_in_force(
    redis_client: redis.Redis,
) -> None:
    store = ConsentStore(redis_client)
    old_stream_entry(redis_client, "OLD", WITHDRAWN, 1_700_000_000.0)
    give(store, "NEW", REFUSED)
    give(store, "KEPT")  # a consent in force: not retention's
    found = dict(store.unattached_logs())
    assert set(found) == {"OLD", "NEW"}
    assert found["OLD"] == 1_700_000_000.0
    assert found["NEW"] is not None and found["NEW"] > 1_700_000_000.0


def test_granted_scopes_read_back_whatever_was_requested(redis_client: redis.Redis) -> None:
    store = ConsentStore(redis_client)
    cases = [
        ((), ()),
        ((SCOPE,), ()),
        (("a", "b", "a"), ("b", "a", "c")),
        (("x",), ("#0", "#1", "#", "#x")),  # scopes that look like places stay themselves
        (("https://a.example/x",), ("https://a.example/y", "https://a.example/x", "12\\z")),
        ((), ("https://a.example/long", "https://a.example/longer", "https://a.example/l")),
    ]
    for requested, granted in cases:
        store.record(
            "U1", purpose="p", provider="google", action=REFUSED, version="1", digest="",
            requested=requested, granted=granted,
        )  # fmt: skip
    assert [(e.requested, e.granted) for e in store.history("U1")] == cases


def test_a_text_changed_without_a_new_version_keeps_its_own_digest(
    redis_client: redis.Redis,
) -> None:
    store = ConsentStore(redis_client)
    give(store, "U1")
    store.record(
        "U2", purpose="room-availability", provider="google", action=GIVEN, version="3",
        digest="f" * 64, grant="G2",
    )  # fmt: skip
    store.record(
        "U2", purpose="room-availability", provider="google", action=WITHDRAWN, version="",
        digest="", grant="G2",
    )  # fmt: skip
    [raw, _] = redis_client.lrange(keys.consent_log("U2"), 0, -1)[::-1]
    assert json.loads(raw)[5] == "f" * 64
    given, withdrawn = store.history("U2")
    assert (given.digest, withdrawn.digest, withdrawn.version) == ("f" * 64, "", "")
    assert [e.digest for e in store.history("U1")] == [DIGEST]
    assert redis_client.hgetall(TEXTS) == {"room-availability|3": DIGEST}


def test_an_element_that_is_not_ours_is_left_out(redis_client: redis.Redis) -> None:
    store = ConsentStore(redis_client)
    give(store, "U1")
    redis_client.lpush(keys.consent_log("U1"), '{"not": "an event"}', "[1, 2]", "not json")
    give(store, "U1", WITHDRAWN)
    assert [e.action for e in store.history("U1")] == [GIVEN, WITHDRAWN]


def test_a_consent_in_force_written_before_issue_17_is_still_in_force(
    redis_client: redis.Redis,
) -> None:
    store = ConsentStore(redis_client)
    give(store, "U1")
    assert json.loads(redis_client.hget(keys.consents("U1"), "room-availability|google"))[:2] == [
        "3",
        "G1",
    ]
    old = {"version": "2", "grant": "G0", "given": 1_700_000_000.5}
    redis_client.hset(keys.consents("U1"), "calendar-choice|google", json.dumps(old))
    older, newer = store.in_force("U1")
    assert (older.purpose, older.version, older.grant, older.given) == (
        "calendar-choice", "2", "G0", 1_700_000_000.5,
    )  # fmt: skip
    assert (newer.purpose, newer.version, newer.grant) == ("room-availability", "3", "G1")

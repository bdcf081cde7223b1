"""The audit stream's entries (issue 17): one compact field each, the subject who is the
actor written once, the time from the entry id; entries written before in a field per datum
still read the same."""

from __future__ import annotations

import json
import time

import redis

from gateway.storage.audit import AUDIT, FIELD, SELF, AuditTrail
from scopes.catalogue import load_catalogue

SECRET = "s" * 40


def trail(client: redis.Redis) -> AuditTrail:
    return AuditTrail(client, SECRET, load_catalogue().audit_actions)


def test_a_record_is_one_field_holding_its_action_as_a_literal_string(
    redis_client: redis.Redis,
) -> None:
    audit = trail(redis_client)
    before = time.time()
    entry_id = audit.record(
        actor="U1",
        action="consent.give",
        subject="U1",
        purpose="room-availability",
        detail={"provider": "google", "version": "3", "replaced": 0},
    )
    [(stored_id, fields)] = redis_client.xrange(AUDIT)
    assert stored_id == entry_id and set(fields) == {FIELD}
    body = json.loads(fields[FIELD])
    assert body[1] == "consent.give"
    assert body[0] == audit.pseudonym("U1") and body[2] == SELF  # the actor, written once
    assert "U1" not in fields[FIELD]
    [entry] = audit.entries()
    assert (entry.actor, entry.subject) == (audit.pseudonym("U1"), audit.pseudonym("U1"))
    assert (entry.action, entry.purpose, entry.result) == (
        "consent.give",
        "room-availability",
        "ok",
    )
    assert entry.detail == {"provider": "google", "version": "3", "replaced": 0}
    assert before - 1 <= entry.at <= time.time() + 1
    assert audit.count_about("U1") == 1


def test_another_subject_and_no_subject_are_kept_as_they_are(redis_client: redis.Redis) -> None:
    audit = trail(redis_client)
    audit.record(actor="cli", action="grant.revoke", subject="U2", result="done")
    audit.record(actor="system", action="keys.rotate")
    rotated, revoked = audit.entries()
    assert (revoked.actor, revoked.subject, revoked.result) == (
        "cli",
        audit.pseudonym("U2"),
        "done",
    )
    assert (rotated.actor, rotated.subject, rotated.detail) == ("system", "", {})
    assert [e.action for e in audit.entries(subject="U2")] == ["grant.revoke"]
    assert audit.count_about("U2") == 1 and audit.count_about("U1") == 0


def test_entries_written_a_field_per_datum_before_issue_17_still_read(
    redis_client: redis.Redis,
) -> None:
    audit = trail(redis_client)
    name = audit.pseudonym("U1")
    redis_client.xadd(
        AUDIT,
        {
            "at": "1796676565.224",
            "actor": name,
            "action": "consent.give",
            "subject": name,
            "purpose": "room-availability",
            "result": "ok",
            "detail": '{"provider": "google", "replaced": 0, "version": "3"}',
        },
    )
    audit.record(actor="U1", action="consent.withdraw", subject="U1", detail={"grants": 1})
    newer, older = audit.entries(subject="U1")
    assert (older.action, older.at, older.actor, older.subject) == (
        "consent.give",
        1796676565.224,
        name,
        name,
    )
    assert older.detail == {"provider": "google", "replaced": 0, "version": "3"}
    assert (newer.action, newer.subject, newer.detail) == ("consent.withdraw", name, {"grants": 1})
    assert audit.count_about("U1") == 2
    assert [e.action for e in audit.entries(action="consent.give")] == ["consent.give"]


def test_an_entry_that_is_not_ours_reads_empty_and_breaks_nothing(
    redis_client: redis.Redis,
) -> None:
    audit = trail(redis_client)
    redis_client.xadd(AUDIT, {FIELD: "not json"})
    redis_client.xadd(AUDIT, {FIELD: "[1, 2]"})
    audit.record(actor="system", action="keys.rotate")
    newest, *others = audit.entries()
    assert newest.action == "keys.rotate"
    assert [(e.action, e.actor) for e in others] == [("", ""), ("", "")]

"""Retention that TTLs cannot express: idle grants end, old audit entries and consent records
go, each after the duration the catalogue (and so the processing register) states."""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient

from gateway.services import retention
from gateway.storage import keys
from gateway.storage.consents import ConsentStore
from gateway.storage.grants import GrantStore
from scopes import Catalogue, parse_catalogue
from scopes.catalogue import CATALOGUE_FILE

FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
DAY = 86400


def calendar_grant(app: Flask, sign_in: Any, client: FlaskClient) -> tuple[str, str]:
    """Alice, signed in, with a room-availability grant made at the emulator."""
    services = app.extensions["gateway"]
    sign_in.complete("google", "alice@example.com")
    uid = client.get("/v1/me").get_json()["id"]
    connector = services.signin.connectors["google"]
    redirect_uri = services.settings.redirect_uri("google")
    request = connector.begin(redirect_uri, f"retention-{time.monotonic_ns()}", (FREEBUSY,))
    sign_in.emulator.client.authorize_next("alice@example.com")
    _, params = sign_in.at_provider(request.url)
    identity = connector.complete(redirect_uri, request.flow, params)
    return uid, services.grants.create(uid, "room-availability", identity).id


def catalogue_with(*changes: tuple[str, str]) -> Catalogue:
    """The shipped catalogue with some of its text replaced (each replacement must apply)."""
    text = CATALOGUE_FILE.read_text(encoding="utf-8")
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_catalogue(text)


def sweep(app: Flask, catalogue: Catalogue, now: float | None = None) -> retention.RetentionReport:
    services = app.extensions["gateway"]
    return retention.Retention(
        GrantStore(services.redis),
        ConsentStore(services.redis),
        services.revocation,
        services.audit,
        catalogue,
    ).run(now=now)


def test_an_idle_grant_is_revoked_with_a_reason_its_owner_sees(
    app: Flask, sign_in: Any, client: FlaskClient
) -> None:
    services = app.extensions["gateway"]
    uid, gid = calendar_grant(app, sign_in, client)
    catalogue = services.consent.catalogue

    assert sweep(app, catalogue).idle_grants_revoked == 0
    later = time.time() + retention.Limits.of(catalogue).grant_idle + 60
    report = sweep(app, catalogue, now=later)
    assert report.idle_grants_revoked == 1
    assert services.grants.get(uid, gid).status == "revoked"
    assert "Unused for a long time" in client.get("/account").get_data(as_text=True)
    [entry] = services.audit.entries(action="grant.revoke")
    assert (entry.actor, entry.subject) == ("system", services.audit.pseudonym(uid))


def test_a_grant_kept_alive_by_refreshes_but_never_used_still_ends(
    app: Flask, sign_in: Any, client: FlaskClient, redis_client: redis.Redis
) -> None:
    """The keep-alive refresh is not a use: refreshed an hour ago, unused for 200 days, it
    ends; and the keep-alive leaves such a grant to the sweep instead of refreshing it."""
    services = app.extensions["gateway"]
    uid, gid = calendar_grant(app, sign_in, client)
    long_ago, lately = str(time.time() - 200 * DAY), str(time.time() - 3600)
    redis_client.hset(
        keys.grant(uid, gid),
        mapping={"created": long_ago, "last_used": long_ago, "last_refreshed": lately},
    )
    calls = sign_in.emulator.client.calls().get("google.token", 0)
    assert services.health.keep_alive(now=time.time() + 8 * DAY) == 0
    assert sign_in.emulator.client.calls().get("google.token", 0) == calls

    assert sweep(app, services.consent.catalogue).idle_grants_revoked == 1
    assert services.grants.get(uid, gid).status == "revoked"


def test_the_shipped_durations_are_the_registers() -> None:
    limits = retention.Limits.of(parse_catalogue(CATALOGUE_FILE.read_text(encoding="utf-8")))
    assert limits == retention.Limits(
        grant_idle=180 * DAY, audit_keep=365 * DAY, consent_records_keep=1095 * DAY
    )


def test_the_sweep_follows_the_catalogue_it_is_given(
    app: Flask, sign_in: Any, client: FlaskClient, redis_client: redis.Redis
) -> None:
    """Each of the three durations shortened in a test catalogue: the sweep acts on the
    shortened one and leaves everything alone under the shipped one."""
    services = app.extensions["gateway"]
    uid, gid = calendar_grant(app, sign_in, client)
    # a second person whose consent ended: only the consent log remains
    other = "retired-host"
    services.consent.store.record(
        other,
        purpose="room-availability",
        provider="google",
        action="withdrawn",
        version="1",
        digest="0" * 64,
    )
    services.audit.record(actor="system", action="keys.rotate")
    shipped = services.consent.catalogue
    short = catalogue_with(
        ('idle = "P180D"', 'idle = "P7D"'),
        ('max_age = "P365D"', 'max_age = "P5D"'),
        ('keep_after_end = "P1095D"', 'keep_after_end = "P6D"'),
    )
    in_eight_days = time.time() + 8 * DAY

    untouched = sweep(app, shipped, now=in_eight_days)
    assert untouched == retention.RetentionReport(0, 0, 0)
    assert services.grants.get(uid, gid).status == "active"
    assert redis_client.exists(keys.consent_log(other)) == 1

    report = sweep(app, short, now=in_eight_days)
    assert report.idle_grants_revoked == 1
    assert report.audit_entries_trimmed >= 1  # the keys.rotate above, at least
    assert report.consent_logs_deleted == 1
    assert services.grants.get(uid, gid).status == "revoked"
    assert redis_client.exists(keys.consent_log(other)) == 0
    [expired] = services.audit.entries(action="consent.expire")
    assert (expired.actor, expired.subject) == ("system", services.audit.pseudonym(other))
    assert not services.audit.entries(action="keys.rotate")


def test_the_retention_command_reports_what_it_did(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "idle grants revoked 0" in result.output

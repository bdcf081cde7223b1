"""Retention that TTLs cannot express: idle grants end, old audit entries go."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from gateway.services import retention

FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"


def test_an_idle_grant_is_revoked_with_a_reason_its_owner_sees(
    app: Flask, sign_in: Any, client: Any
) -> None:
    services = app.extensions["gateway"]
    sign_in.complete("google", "alice@example.com")
    uid = client.get("/v1/me").get_json()["id"]
    connector = services.signin.connectors["google"]
    redirect_uri = services.settings.redirect_uri("google")
    request = connector.begin(redirect_uri, "retention-state", (FREEBUSY,))
    sign_in.emulator.client.authorize_next("alice@example.com")
    _, params = sign_in.at_provider(request.url)
    grant = services.grants.create(
        uid, "room-availability", connector.complete(redirect_uri, request.flow, params)
    )

    catalogue = services.consent.catalogue
    sweep = (services.redis, services.grants.store, services.revocation, services.audit)
    untouched = retention.run(*sweep, catalogue)
    assert untouched.idle_grants_revoked == 0
    later = time.time() + retention.Limits.of(catalogue).grant_idle + 60
    report = retention.run(*sweep, catalogue, now=later)
    assert report.idle_grants_revoked == 1
    assert services.grants.get(uid, grant.id).status == "revoked"
    assert "Unused for a long time" in client.get("/account").get_data(as_text=True)


def test_the_retention_command_reports_what_it_did(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "idle grants revoked 0" in result.output

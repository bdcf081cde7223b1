"""T32 "audit log" / ASVS 5.0 16.2.1, 16.2.2, 16.2.5, 16.3.1-16.3.4 (4.0.3 7.1.1, 7.2.x,
8.3.5): every security event writes exactly one structured JSON record, with UTC time,
actor, subject, action, outcome and the request id, and no log record holds a token, a
code, a state, an ID token or an e-mail address.

The record is the JSON log line of logger `gateway.security` (gateway/request_log.py,
`security_event`; its docstring maps event → record). Every record of each test is
captured and formatted with the gateway's own JsonFormatter (what production writes); the
event records are the lines with an `action`. Each scenario counts the records its request
wrote (by the response's `X-Request-Id`). Data-changing events (revocations, sessions
ended) are also counted in the audit stream, one entry each.

The canary check runs after every test of this module over every captured record, raw
(message, arguments, exception text, event detail) and formatted: the codes, states,
nonces and challenges the gateway sent or received, the emulator's token and code
prefixes, `eyJ` (a JWT), the e-mail addresses signed in with, and planted values."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from gateway.request_log import JsonFormatter
from gateway.storage.audit import AUDIT, entry_of
from tests.security.support import (
    DAY,
    GENERIC_ACCOUNT,
    GOOGLE_ACCOUNT,
    MICROSOFT_ACCOUNT,
    OTHER_GOOGLE_ACCOUNT,
    SLOTS,
    api_client,
    bearer,
    csrf_token,
    make_room,
    signed_in_uid,
)

PURPOSE = "room-availability"
ADMIN = OTHER_GOOGLE_ACCOUNT
PLANTED_EMAIL = "canary.person@planted.example"
PLANTED = ("c4nary-code-7f3a", "c4nary-state-91bd", "eyJc4nary.id-token.9x")
# What the emulator's tokens and codes start with (emulator/*.py).
TOKEN_PREFIXES = (
    "ya29.emu-",
    "1//emu-",
    "4/emu-",
    "oidc-at.",
    "oidc-rt.",
    "oidc-code.",
    "EwA-emu.",
    "0.A-emu.",
    "1.A-emu.",
)
ENDPOINT = {"emulator": "oidc"}
REQUIRED = ("time", "actor", "subject", "action", "outcome", "request_id")
UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
FORMATTER = JsonFormatter()


class Captured(logging.Handler):
    """Every record of the test, formatted as production writes it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.secrets: set[str] = set(PLANTED) | {PLANTED_EMAIL}

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(FORMATTER.format(r)) for r in self.records]

    def events(self, response: Any = None) -> list[dict[str, Any]]:
        found = [line for line in self.lines() if "action" in line]
        if response is not None:
            rid = response.headers["X-Request-Id"]
            found = [line for line in found if line.get("request_id") == rid]
        return found

    def one(self, response: Any, action: str, outcome: str) -> dict[str, Any]:
        """The request wrote exactly one record of this action, and it is well formed."""
        found = [e for e in self.events(response) if e["action"] == action]
        assert len(found) == 1, (action, self.events(response))
        event = found[0]
        assert event["outcome"] == outcome, event
        assert_well_formed(event)
        return event

    def raw_text(self) -> str:
        parts = []
        for record in self.records:
            parts.append(record.getMessage())
            parts.append(repr(record.args))
            parts.append(repr(getattr(record, "detail", "")))
            parts.append(str(getattr(record, "subject", "")))
            parts.append(str(getattr(record, "actor", "")))
            if record.exc_info:
                parts.append(FORMATTER.formatException(record.exc_info))
        return "\n".join(parts)


def assert_well_formed(event: dict[str, Any]) -> None:
    for name in REQUIRED:
        assert isinstance(event.get(name), str) and event[name], (name, event)
    assert UTC_TIME.fullmatch(event["time"]), event["time"]
    stamped = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert stamped.utcoffset() is not None and stamped.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - stamped).total_seconds()) < 300
    assert isinstance(event["detail"], dict)


JWT_HEAD = re.compile(r"eyJ[A-Za-z0-9_-]*\.")


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[Captured]:
    caplog.set_level(logging.DEBUG)
    found = Captured()
    root = logging.getLogger()
    root.addHandler(found)
    yield found
    root.removeHandler(found)
    # The canary check, over every record the test wrote.
    assert found.records
    raw, written = found.raw_text(), "\n".join(json.dumps(line) for line in found.lines())
    for text in (raw, written):
        for secret in sorted(found.secrets):
            assert secret not in text, secret
        for prefix in TOKEN_PREFIXES:
            assert prefix not in text, prefix
        # a JWT (its JSON header, base64url, then a dot), not any random id that happens to
        # begin with "eyJ" (a user id "eyJbJrMz..." once failed this)
        assert not JWT_HEAD.search(text)
        for account in (GOOGLE_ACCOUNT, OTHER_GOOGLE_ACCOUNT, MICROSOFT_ACCOUNT, GENERIC_ACCOUNT):
            assert account not in text and account.split("@")[0] + "@" not in text


def record_secrets(driver: Any, captured: Captured) -> Any:
    """The sign-in driver, noting every state, nonce, challenge, code and token it carries."""
    start, at_provider = driver.start, driver.at_provider

    def note(values: dict[str, str]) -> None:
        captured.secrets.update(v for v in values.values() if len(v) >= 8)

    def started(*args: Any, **kwargs: Any) -> str:
        url = start(*args, **kwargs)
        query = parse_qs(urlsplit(url).query)
        note({k: v[0] for k, v in query.items() if k in ("state", "nonce", "code_challenge")})
        return str(url)

    def answered(url: str) -> tuple[str, dict[str, str]]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        note({k: v for k, v in query.items() if k in ("state", "nonce", "code_challenge")})
        path, params = at_provider(url)
        note({k: v for k, v in params.items() if k in ("code", "state", "id_token")})
        return path, params

    driver.start, driver.at_provider = started, answered
    return driver


@pytest.fixture
def recording(sign_in: Any, captured: Captured) -> Any:
    return record_secrets(sign_in, captured)


def give_consent(driver: Any, client: FlaskClient, account: str, **answer: Any) -> Any:
    form = {"provider": "google", "csrf_token": csrf_token(client)}
    started = client.post(f"/consent/{PURPOSE}", data=form)
    assert started.status_code == 303, started.get_data(as_text=True)
    driver.emulator.client.authorize_next(account, **answer)
    return driver.back_to_gateway(*driver.at_provider(started.headers["Location"]))


def grant_of(app: Flask, uid: str) -> str:
    (grant,) = app.extensions["gateway"].grants.list(uid)
    return str(grant.id)


def audit_actions(redis_client: redis.Redis) -> list[str]:
    return [entry_of(i, fields).action for i, fields in redis_client.xrange(AUDIT)]


# -- authentication -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "account"),
    [("google", GOOGLE_ACCOUNT), ("microsoft", MICROSOFT_ACCOUNT), ("emulator", GENERIC_ACCOUNT)],
)
def test_a_sign_in_writes_one_login_success(
    recording: Any, client: FlaskClient, captured: Captured, provider: str, account: str
) -> None:
    done = recording.complete(provider, account)
    assert done.status_code == 303
    event = captured.one(done, "login", "success")
    uid = signed_in_uid(client)
    assert (event["actor"], event["subject"]) == (uid, uid)
    assert event["detail"]["provider"] == provider
    assert [e["action"] for e in captured.events()] == ["login"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"code": PLANTED[0]}, "missing_state"),
        ({"code": PLANTED[0], "state": PLANTED[1]}, "invalid_state"),
        ({"error": "access_denied", "state": PLANTED[1]}, "invalid_state"),
    ],
)
def test_a_callback_with_a_bad_state_writes_one_login_failure(
    client: FlaskClient, captured: Captured, query: dict[str, str], reason: str
) -> None:
    refused = client.get("/auth/callback/google", query_string=query)
    assert refused.status_code == 400
    event = captured.one(refused, "login", "failure")
    assert event["detail"]["reason"] == reason
    assert (event["actor"], event["subject"]) == ("anonymous", "unknown")
    assert len(captured.events(refused)) == 1  # not also an input.reject


@pytest.mark.parametrize(
    ("provider", "account", "break_it", "status", "reason"),
    [
        ("google", GOOGLE_ACCOUNT, "deny", 403, "access_denied"),
        ("google", GOOGLE_ACCOUNT, "signature", 400, None),
        ("emulator", GENERIC_ACCOUNT, "token_500", 502, None),
        ("microsoft", MICROSOFT_ACCOUNT, "deny", 403, "access_denied"),
    ],
)
def test_a_provider_error_writes_one_login_failure(
    recording: Any,
    client: FlaskClient,
    captured: Captured,
    provider: str,
    account: str,
    break_it: str,
    status: int,
    reason: str | None,
) -> None:
    emulator = recording.emulator.client
    answer: dict[str, Any] = {}
    if break_it == "deny":
        answer["deny"] = True
    elif break_it == "signature":
        emulator.id_token_next("signature")
    else:
        emulator.fault(f"{ENDPOINT.get(provider, provider)}.token", status=500, times=3)
    refused = recording.complete(provider, account, **answer)
    assert refused.status_code == status, refused.get_data(as_text=True)
    event = captured.one(refused, "login", "failure")
    assert event["detail"]["status"] == status
    if reason:
        assert event["detail"]["reason"] == reason
    assert len(captured.events(refused)) == 1
    assert not [e for e in captured.events() if e["outcome"] == "success"]


# -- consent ------------------------------------------------------------------------------------
def test_consent_given_refused_and_withdrawn_write_one_record_each(
    app: Flask, recording: Any, client: FlaskClient, captured: Captured
) -> None:
    recording.complete("google", GOOGLE_ACCOUNT)
    uid = signed_in_uid(client)

    refused = give_consent(recording, client, GOOGLE_ACCOUNT, grant=["openid", "email"])
    assert urlsplit(refused.headers["Location"]).path.endswith("/incomplete")
    event = captured.one(refused, "consent.give", "refused")
    assert (event["actor"], event["subject"], event["detail"]["purpose"]) == (uid, uid, PURPOSE)

    given = give_consent(recording, client, GOOGLE_ACCOUNT)
    assert given.headers["Location"] == "/account"
    event = captured.one(given, "consent.give", "success")
    assert (event["actor"], event["subject"]) == (uid, uid)
    gid = grant_of(app, uid)
    assert event["detail"]["grant"] == gid
    assert {e["action"] for e in captured.events(given)} == {"login", "consent.give"}

    form = {"provider": "google", "csrf_token": csrf_token(client)}
    withdrawn = client.post(f"/consent/{PURPOSE}/withdraw", data=form)
    assert withdrawn.status_code == 303
    event = captured.one(withdrawn, "consent.withdraw", "success")
    assert (event["actor"], event["detail"]["grants"]) == (uid, 1)
    revoked = captured.one(withdrawn, "grant.revoke", "success")
    assert (revoked["actor"], revoked["subject"], revoked["detail"]["grant"]) == (uid, uid, gid)
    assert len(captured.events(withdrawn)) == 2


# -- tokens -------------------------------------------------------------------------------------
def refresh_fails_inside_a_request(
    app: Flask, driver: Any, client: FlaskClient
) -> tuple[Any, str, str]:
    """A bound room whose grant's access token is due, and the provider says invalid_grant."""
    driver.complete("google", GOOGLE_ACCOUNT)
    uid = signed_in_uid(client)
    emulator = driver.emulator.client
    emulator.settings(access_token_ttl=1)
    give_consent(driver, client, GOOGLE_ACCOUNT)
    emulator.settings(access_token_ttl=3600)
    gid = grant_of(app, uid)
    make_room(app, "atlas", ["members"], host=uid)
    app.extensions["gateway"].rooms.bind(uid, "atlas", gid)
    emulator.fault("google.token", error="invalid_grant")
    answer = client.post(
        "/v1/freebusy",
        json={"rooms": ["atlas"], **DAY},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer, uid, gid


def test_invalid_grant_on_refresh_writes_one_refresh_failure(
    app: Flask, recording: Any, client: FlaskClient, captured: Captured
) -> None:
    _, uid, gid = refresh_fails_inside_a_request(app, recording, client)
    (event,) = [e for e in captured.events() if e["action"] == "token.refresh"]
    assert event["outcome"] == "failure"
    assert (event["actor"], event["subject"]) == ("system", uid)
    assert (event["detail"]["reason"], event["detail"]["grant"]) == ("invalid_grant", gid)
    assert_well_formed({**event, "request_id": "checked below"})


def test_a_refresh_failure_names_the_request_it_happened_in(
    app: Flask, recording: Any, client: FlaskClient, captured: Captured
) -> None:
    answer, _, _ = refresh_fails_inside_a_request(app, recording, client)
    captured.one(answer, "token.refresh", "failure")


# -- revocation and admin actions ---------------------------------------------------------------
def test_a_user_disconnecting_a_grant_writes_one_revoke_and_one_withdrawal(
    app: Flask, recording: Any, client: FlaskClient, captured: Captured, redis_client: redis.Redis
) -> None:
    recording.complete("google", GOOGLE_ACCOUNT)
    give_consent(recording, client, GOOGLE_ACCOUNT)
    uid = signed_in_uid(client)
    gid = grant_of(app, uid)
    before = audit_actions(redis_client)
    done = client.post(f"/account/grants/{gid}/disconnect", data={"csrf_token": csrf_token(client)})
    assert done.status_code == 303
    event = captured.one(done, "grant.revoke", "success")
    assert (event["actor"], event["subject"], event["detail"]["grant"]) == (uid, uid, gid)
    withdrawn = captured.one(done, "consent.withdraw", "success")  # the consent it stood on
    assert (withdrawn["actor"], withdrawn["detail"]["purpose"]) == (uid, "room-availability")
    assert len(captured.events(done)) == 2
    # the audit trail holds both: the revocation, and the withdrawal it caused
    assert audit_actions(redis_client)[len(before) :] == ["grant.revoke", "consent.withdraw"]


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], emulator: Any) -> dict[str, str]:
    """The shared settings, with the second Google account as the admin."""
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == ADMIN)
    return {**gateway_env, "GATEWAY_ADMINS": f"google:{subject}"}


def test_an_admin_revoking_and_ending_sessions_writes_one_record_per_action(
    app: Flask,
    recording: Any,
    another_browser: Callable[[], Any],
    client: FlaskClient,
    captured: Captured,
    redis_client: redis.Redis,
) -> None:
    user = record_secrets(another_browser(), captured)
    user.complete("google", GOOGLE_ACCOUNT)
    give_consent(user, user.client, GOOGLE_ACCOUNT)
    uid = signed_in_uid(user.client)
    gid = grant_of(app, uid)
    recording.complete("google", ADMIN)
    admin_uid = signed_in_uid(client)
    before = audit_actions(redis_client)

    form = {"reason": "security review", "end_sessions": "1", "csrf_token": csrf_token(client)}
    done = client.post(f"/admin/users/{uid}/revoke", data=form)
    assert done.status_code == 200, done.get_data(as_text=True)
    revoked = captured.one(done, "grant.revoke", "success")
    assert (revoked["actor"], revoked["subject"], revoked["detail"]["grant"]) == (
        admin_uid,
        uid,
        gid,
    )
    ended = captured.one(done, "sessions.end", "success")
    assert (ended["actor"], ended["subject"], ended["detail"]["sessions"]) == (admin_uid, uid, 1)
    assert len(captured.events(done)) == 2
    assert audit_actions(redis_client)[len(before) :] == ["grant.revoke", "sessions.end"]


# -- refusals -----------------------------------------------------------------------------------
def test_authorization_denials_write_one_record_each(
    app: Flask, recording: Any, client: FlaskClient, captured: Captured
) -> None:
    make_room(app, "hidden", ["backoffice"])
    make_room(app, "open", ["frontend"])
    secret = api_client(app, "fe", {"frontend"})
    client_id = app.extensions["gateway"].api_clients.all()[0].id

    anonymous = client.get("/v1/me")
    assert anonymous.status_code == 401
    assert captured.one(anonymous, "authz.deny", "denied")["actor"] == "anonymous"

    api = client.get("/v1/rooms/hidden/slots", query_string=SLOTS, headers=bearer(secret))
    assert api.status_code in (403, 404)
    event = captured.one(api, "authz.deny", "denied")
    assert (event["actor"], event["detail"]["status"]) == (f"client:{client_id}", api.status_code)

    recording.complete("google", GOOGLE_ACCOUNT)
    uid = signed_in_uid(client)
    for path in ("/admin", "/admin/audit", f"/admin/users/{uid}"):
        refused = client.get(path)
        assert refused.status_code == 403
        event = captured.one(refused, "authz.deny", "denied")
        assert (event["actor"], event["detail"]["status"]) == (uid, 403)
        assert event["subject"].startswith("admin.")
        assert len(captured.events(refused)) == 1
    room = client.post(
        "/v1/freebusy",
        json={"rooms": ["hidden"], **DAY},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert room.status_code in (403, 404), room.get_data(as_text=True)[:400]
    assert captured.one(room, "authz.deny", "denied")["actor"] == uid


def test_rejected_input_writes_one_record_each(
    app: Flask, recording: Any, client: FlaskClient, captured: Captured
) -> None:
    secret = api_client(app, "fe", {"frontend"})
    cases = [
        client.post("/v1/freebusy", data="{not json", headers=bearer(secret)),
        client.post(
            "/v1/freebusy",
            json={"rooms": ["x"], "timeMin": "yesterday", "timeMax": PLANTED_EMAIL},
            headers=bearer(secret),
        ),
        client.post("/v1/freebusy", data="x" * (65 * 1024), headers=bearer(secret)),
        client.get(
            "/no/such/page",
            query_string={"code": PLANTED[0], "state": PLANTED[1], "id_token": PLANTED[2]},
        ),
    ]
    statuses = [c.status_code for c in cases]
    assert statuses[0] == 400 and statuses[2] == 413 and statuses[3] == 404, statuses
    assert statuses[1] in (400, 422), statuses
    for answer in cases:
        event = captured.one(answer, "input.reject", "rejected")
        assert event["detail"]["status"] == answer.status_code
        assert len(captured.events(answer)) == 1
    recording.complete("google", GOOGLE_ACCOUNT)
    uid = signed_in_uid(client)
    form = client.post("/account/erase", data={"csrf_token": csrf_token(client)})
    assert form.status_code == 400
    assert captured.one(form, "input.reject", "rejected")["actor"] == uid
    no_token = client.post("/account/erase", data={"confirm": "erase"})
    assert no_token.status_code == 400  # CSRF
    assert captured.one(no_token, "input.reject", "rejected")["subject"] == "privacy.erase_form"


def test_an_ordinary_request_writes_no_event(client: FlaskClient, captured: Captured) -> None:
    for path in ("/", "/healthz"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert captured.events(answer) == []

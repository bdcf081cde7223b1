"""Data-subject rights and revocation: provable deletion, export, restriction, receipts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from connectors.errors import GrantInvalid
from gateway.crypto.receipt_keys import KeysInMemory
from gateway.crypto.receipts import ReceiptInvalid, ReceiptSigner
from gateway.services.callers import Caller
from gateway.storage import keys
from tests.conftest import everything_stored
from tests.redis_cluster import each_server

# The sign-in, free/busy and revocation suites hold on a single server and on a cluster.
pytestmark = pytest.mark.redis_deployments

FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
SCHEMA = Path(__file__).resolve().parents[3] / "gateway" / "schemas" / "export.schema.json"
FRONTEND = Caller(kind="client", id="frontend", audiences=frozenset({"frontend"}))
DAY = (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC))


class Host:
    """Alice, signed in, with a calendar grant and a bound room whose cache is warm."""

    def __init__(self, app: Flask, sign_in: Any, client: FlaskClient) -> None:
        self.app, self.client = app, client
        self.services = app.extensions["gateway"]
        sign_in.complete("google", "alice@example.com")
        self.uid = client.get("/v1/me").get_json()["id"]
        connector = self.services.signin.connectors["google"]
        redirect_uri = self.services.settings.redirect_uri("google")
        request = connector.begin(redirect_uri, f"p-{time.monotonic_ns()}", (FREEBUSY,))
        sign_in.emulator.client.authorize_next("alice@example.com")
        _, params = sign_in.at_provider(request.url)
        self.identity = connector.complete(redirect_uri, request.flow, params)
        self.gid = self.services.grants.create(self.uid, "room-availability", self.identity).id
        self.services.rooms.create(
            {
                "id": "atlas",
                "name": "Atlas",
                "time_zone": "UTC",
                "host": self.uid,
                "visibility": ["frontend"],
                "hours": {"wednesday": [["08:00", "18:00"]]},
            }
        )
        self.services.rooms.bind(self.uid, "atlas", self.gid)
        sign_in.emulator.client.add_event(
            "alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z"
        )
        assert self.freebusy().status == "ok"

    def freebusy(self) -> Any:
        return self.services.freebusy.query(FRONTEND, ["atlas"], *DAY).rooms["atlas"]

    def csrf(self) -> str:
        from flask_wtf.csrf import generate_csrf

        page = self.client.get("/account").get_data(as_text=True)
        return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0] or generate_csrf()


@pytest.fixture
def host(app: Flask, sign_in: Any, client: FlaskClient) -> Host:
    return Host(app, sign_in, client)


def aof_text(redis_client: redis.Redis) -> str:
    """Every AOF file of the server, or of every primary of a cluster, once rewritten."""
    texts = []
    for server in each_server(redis_client):
        folder = Path(str(server.config_get("dir")["dir"]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = server.info("persistence")
            if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                break
            time.sleep(0.1)
        files = [p for p in folder.rglob("*") if p.is_file() and "aof" in p.name]
        assert files, f"no AOF in {folder}"
        texts += [p.read_bytes().decode("utf-8", "replace") for p in files]
    return "\n".join(texts)


def test_erasure_leaves_nothing_that_names_the_user_in_redis_or_its_aof(
    host: Host, client: FlaskClient, redis_client: redis.Redis, redis_contents: Any
) -> None:
    sealed_tokens = redis_client.hget(keys.grant(host.uid, host.gid), "tokens")
    secrets = [host.identity.tokens.access_token, host.identity.tokens.refresh_token]
    client.get("/v1/me/export")  # leaves an audit entry about the user
    assert host.services.audit.entries(subject=host.uid)

    erased = client.delete("/v1/me", headers={"X-CSRFToken": host.csrf()})
    assert erased.status_code == 200, erased.get_data(as_text=True)
    receipt = erased.get_json()
    assert receipt["kind"] == "erasure"
    assert receipt["deleted"]["grants"] == 1
    host.services.privacy.revocation.signer.verify(receipt)

    stored = redis_contents()
    for trace in [host.uid, host.identity.subject, "alice@example.com", "Alice Example", *secrets]:
        assert trace not in stored, trace
    assert client.get("/v1/me").status_code == 401
    assert host.freebusy().status == "unbound"

    # the receipt says by when the data leaves the disk; the scrub thread gets there
    assert receipt["disk"]["scrub_by"] <= time.time() + 60
    scrub = host.services.disk_scrub
    deadline = time.monotonic() + 60
    while not scrub.is_done(receipt["disk"]["request"]):
        assert time.monotonic() < deadline, "the disk scrub did not run within its bound"
        time.sleep(0.1)
    on_disk = aof_text(redis_client)
    for trace in [sealed_tokens, host.uid, *secrets]:
        assert trace not in on_disk


def test_a_crash_mid_revocation_completes_on_retry(host: Host) -> None:
    revocation = host.services.revocation
    calls = {"n": 0}

    def crash_once(uid: str, gid: str, actor: str) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("power cut after the key was destroyed")
        return 0

    revocation.unbind_hooks.insert(0, crash_once)
    with pytest.raises(RuntimeError):
        revocation.revoke_grant(host.uid, host.gid, reason="admin says so", actor="admin")
    record = host.services.grants.store.load(host.uid, host.gid)
    assert record.wrapped_key is None  # the key is gone already
    receipt = revocation.revoke_grant(host.uid, host.gid, reason="admin says so", actor="admin")
    assert receipt is not None
    assert receipt["deleted"]["bindings"] == 1
    assert receipt["provider_revocation"] == "revoked at provider"
    assert host.services.rooms.binding("atlas") is None


def test_google_revocation_reaches_the_emulator_with_the_right_token(
    host: Host, sign_in: Any
) -> None:
    before = sign_in.emulator.client.calls().get("google.revoke", 0)
    receipt = host.services.revocation.revoke_grant(
        host.uid, host.gid, reason="test", actor=host.uid
    )
    assert receipt["provider_revocation"] == "revoked at provider"
    assert sign_in.emulator.client.calls()["google.revoke"] == before + 1
    connector = host.services.signin.connectors["google"]
    with pytest.raises(GrantInvalid):  # the refresh token is dead at the provider
        connector.refresh(host.identity.tokens, (FREEBUSY,))


def test_a_provider_failure_still_deletes_everything_here(
    host: Host, sign_in: Any, redis_client: redis.Redis
) -> None:
    sign_in.emulator.client.fault("google.revoke", status=503, times=-1)
    receipt = host.services.revocation.revoke_grant(
        host.uid, host.gid, reason="test", actor=host.uid
    )
    assert receipt["provider_revocation"].startswith("failed")
    record = redis_client.hgetall(keys.grant(host.uid, host.gid))
    assert not {"dk", "tokens", "subject"} & set(record)
    assert list(redis_client.scan_iter(f"{keys.user_tag(host.uid)}:fb:*")) == []


def test_the_export_validates_and_covers_what_the_register_lists(
    host: Host, client: FlaskClient, another_browser: Any
) -> None:
    other = another_browser()
    other.complete("google", "bob@example.com")
    document = client.get("/v1/me/export").get_json()
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["user"]["email"] == "alice@example.com"
    assert FREEBUSY in document["grants"][0]["scopes"]
    assert document["rooms"]["bindings"][0]["room"] == "atlas"
    assert document["roomAccess"][0]["asker"] == "client:frontend"
    assert {p["id"] for p in document["processing"]} >= {"sign-in", "room-availability"}
    text = json.dumps(document)
    assert "bob@example.com" not in text
    for secret in (host.identity.tokens.access_token, host.identity.tokens.refresh_token):
        assert secret not in text


def test_the_export_gives_each_hosted_room_its_status_in_words(
    host: Host, client: FlaskClient
) -> None:
    schema = json.loads(SCHEMA.read_text())
    host.services.rooms.create(
        {"id": "lonely", "name": "Lonely", "time_zone": "UTC", "host": host.uid}
    )

    def hosted() -> dict[str, tuple[str, str]]:
        document = client.get("/v1/me/export").get_json()
        jsonschema.validate(document, schema)
        return {r["id"]: (r["status"], r["statusMeaning"]) for r in document["rooms"]["hosted"]}

    found = hosted()
    assert found["atlas"][0] == "ok" and found["lonely"][0] == "unbound"
    assert "No calendar is connected" in found["lonely"][1]
    host.services.privacy.restrict(host.uid, True, actor=host.uid)
    assert hosted()["atlas"][0] == "restricted"


def test_restriction_stops_provider_calls_until_lifted(
    host: Host, client: FlaskClient, sign_in: Any, redis_client: redis.Redis
) -> None:
    for key in redis_client.scan_iter(f"{keys.user_tag(host.uid)}:fb:*"):
        redis_client.delete(key)  # a cold cache: any answer would need the provider
    token = host.csrf()
    paused = client.post(
        "/v1/me/restriction", json={"restricted": True}, headers={"X-CSRFToken": token}
    )
    assert paused.get_json() == {"restricted": True}
    calls = sign_in.emulator.client.calls().get("google.freebusy", 0)
    assert host.freebusy().status == "restricted"
    assert sign_in.emulator.client.calls().get("google.freebusy", 0) == calls
    client.post("/v1/me/restriction", json={"restricted": False}, headers={"X-CSRFToken": token})
    assert host.freebusy().status == "ok"


def test_bad_restriction_requests_are_refused(host: Host, client: FlaskClient) -> None:
    answer = client.post(
        "/v1/me/restriction", json={"restricted": "yes"}, headers={"X-CSRFToken": host.csrf()}
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_request"


def test_a_tampered_receipt_fails_verification(host: Host) -> None:
    receipt = host.services.revocation.revoke_grant(host.uid, host.gid, reason="x", actor="x")
    signer: ReceiptSigner = host.services.revocation.signer
    assert signer.verify(receipt)["grant"] == host.gid
    tampered = {**receipt, "deleted": {**receipt["deleted"], "cached_entries": 0}}
    with pytest.raises(ReceiptInvalid):
        signer.verify(tampered)
    with pytest.raises(ReceiptInvalid):
        ReceiptSigner("another gateway's secret key, long enough", KeysInMemory()).verify(receipt)


def test_the_audit_trail_names_nobody(host: Host, redis_client: redis.Redis) -> None:
    host.services.revocation.revoke_grant(host.uid, host.gid, reason="x", actor=host.uid)
    trail = json.dumps([e[1] for e in redis_client.xrange("gw:audit")])
    assert host.uid not in trail
    assert "alice@example.com" not in trail
    about = [e.action for e in host.services.audit.entries(subject=host.uid)]
    assert about == ["grant.revoke", "room.unbind", "room.bind", "room.create"]


def test_a_user_disconnects_one_grant_from_the_account_page(
    host: Host, client: FlaskClient
) -> None:
    done = client.post(f"/account/grants/{host.gid}/disconnect", data={"csrf_token": host.csrf()})
    assert done.status_code == 303
    assert "You disconnected it." in client.get("/account").get_data(as_text=True)
    assert host.freebusy().status == "unbound"


def test_a_link_pending_at_erasure_stores_nothing_and_finishes_nothing(
    host: Host, client: FlaskClient, sign_in: Any, redis_client: redis.Redis
) -> None:
    """A half-done link to Microsoft names the user and carries their code: both travel
    sealed in the browser (the flow cookie, the 303 after the form_post), none in Redis;
    after erasure its callback is refused and writes nothing about the erased user."""
    started = client.post("/auth/link/microsoft", data={"csrf_token": host.csrf()})
    assert started.status_code == 303
    sign_in.emulator.client.authorize_next("carol@contoso.example")
    path, fields = sign_in.at_provider(started.headers["Location"])
    parked = client.post(path.removeprefix("POST "), data=fields)  # the 303 is not followed
    assert parked.status_code == 303
    stored = everything_stored(redis_client)
    for value in (fields["code"], fields["state"], fields["client_info"]):
        assert value not in stored

    erased = client.delete("/v1/me", headers={"X-CSRFToken": host.csrf()})
    assert erased.status_code == 200

    late = client.get(parked.headers["Location"])
    assert late.status_code == 400
    assert "<code>session_changed</code>" in late.get_data(as_text=True)
    assert not redis_client.exists(keys.profile(host.uid), keys.identities(host.uid))
    assert not list(redis_client.scan_iter(f"{keys.user_tag(host.uid)}*"))

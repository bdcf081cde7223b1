"""Granular consent: the gateway's page first, exactly the catalogue's scopes, records kept."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import redis
from flask.testing import FlaskClient

from gateway.storage import keys

# what room availability asks Google for (consent version 2: free/busy and push channels)
FREEBUSY = "https://www.googleapis.com/auth/calendar.events.freebusy"
PURPOSE = "room-availability"


def csrf_from(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def give_consent(
    sign_in: Any,
    client: FlaskClient,
    provider: str,
    account: str,
    purpose: str = PURPOSE,
    **answer: Any,
):
    page = f"/consent/{purpose}?provider={provider}"
    started = client.post(
        f"/consent/{purpose}", data={"provider": provider, "csrf_token": csrf_from(client, page)}
    )
    assert started.status_code == 303, started.get_data(as_text=True)
    sign_in.emulator.client.authorize_next(account, **answer)
    return sign_in.back_to_gateway(*sign_in.at_provider(started.headers["Location"]))


def last_authorization(emulator: Any) -> dict[str, str]:
    return emulator.client.authorizations()[-1]["params"]


def test_google_consent_asks_for_exactly_the_catalogue_scopes_and_keeps_a_grant(
    sign_in: Any, client: FlaskClient
) -> None:
    sign_in.complete("google", "alice@example.com")
    page = client.get(f"/consent/{PURPOSE}?provider=google").get_data(as_text=True)
    assert FREEBUSY in page
    assert "How to withdraw" in page

    done = give_consent(sign_in, client, "google", "alice@example.com")
    assert done.status_code == 303
    assert done.headers["Location"] == "/account"
    asked = last_authorization(sign_in.emulator)
    assert set(asked["scope"].split()) == {"openid", "email", "profile", FREEBUSY}
    assert asked["include_granted_scopes"] == "true"
    assert asked["access_type"] == "offline"

    account = client.get("/account").get_data(as_text=True)
    assert "Room availability" in account or PURPOSE in account
    assert f"<code>{FREEBUSY}</code>" in account
    assert 'id="withdraw-room-availability-google"' in account
    (grant,) = sign_in.client.application.extensions["gateway"].grants.list(
        client.get("/v1/me").get_json()["id"]
    )
    assert grant.status == "active"


def test_microsoft_consent_asks_for_calendars_read(sign_in: Any, client: FlaskClient) -> None:
    sign_in.complete("microsoft", "carol@contoso.example")
    done = give_consent(sign_in, client, "microsoft", "carol@contoso.example")
    assert done.status_code == 303
    asked = set(last_authorization(sign_in.emulator)["scope"].split())
    # the narrowest permission a change-notification subscription on events takes
    assert {"Calendars.Read", "offline_access", "openid"} <= asked
    assert not {s for s in asked if "calendar" in s.lower()} - {"Calendars.Read"}
    uid = client.get("/v1/me").get_json()["id"]
    (grant,) = client.application.extensions["gateway"].grants.list(uid)
    assert grant.provider == "microsoft"


def test_an_unticked_scope_keeps_nothing_and_says_what_is_missing(
    sign_in: Any, client: FlaskClient, redis_client: redis.Redis
) -> None:
    sign_in.complete("google", "alice@example.com")
    done = give_consent(
        sign_in, client, "google", "alice@example.com", grant=["openid", "email", "profile"]
    )
    assert done.status_code == 303
    assert urlsplit(done.headers["Location"]).path == f"/consent/{PURPOSE}/incomplete"
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"<code>{FREEBUSY}</code>" in page
    assert 'id="try-again"' in page
    uid = client.get("/v1/me").get_json()["id"]
    assert client.application.extensions["gateway"].grants.list(uid) == []
    (event,) = client.application.extensions["gateway"].consent.history(uid)
    assert event.action == "refused"
    assert FREEBUSY not in event.granted


def test_withdrawal_removes_the_grant_and_is_recorded(sign_in: Any, client: FlaskClient) -> None:
    sign_in.complete("google", "alice@example.com")
    give_consent(sign_in, client, "google", "alice@example.com")
    uid = client.get("/v1/me").get_json()["id"]
    services = client.application.extensions["gateway"]
    revokes = sign_in.emulator.client.calls().get("google.revoke", 0)

    out = client.post(
        f"/consent/{PURPOSE}/withdraw",
        data={"provider": "google", "csrf_token": csrf_from(client, "/account")},
    )
    assert out.status_code == 303
    assert services.grants.list(uid) == []
    assert services.consent.store.in_force(uid) == []
    assert [e.action for e in services.consent.history(uid)] == ["given", "withdrawn"]
    assert sign_in.emulator.client.calls()["google.revoke"] == revokes + 1


def test_consent_forms_need_a_csrf_token(sign_in: Any, client: FlaskClient) -> None:
    sign_in.complete("google", "alice@example.com")
    assert client.post(f"/consent/{PURPOSE}", data={"provider": "google"}).status_code == 400
    withdrawn = client.post(f"/consent/{PURPOSE}/withdraw", data={"provider": "google"})
    assert withdrawn.status_code == 400


def test_consent_needs_a_signed_in_user(client: FlaskClient) -> None:
    assert client.get(f"/consent/{PURPOSE}?provider=google").status_code == 401


def test_only_optional_purposes_with_a_calendar_provider_are_offered(
    sign_in: Any, client: FlaskClient
) -> None:
    sign_in.complete("google", "alice@example.com")
    assert client.get("/consent/nothing?provider=google").status_code == 404
    assert client.get("/consent/sign-in?provider=google").status_code == 404
    assert client.get(f"/consent/{PURPOSE}?provider=emulator").status_code == 404


def test_calendar_choice_needs_room_availability_first(sign_in: Any, client: FlaskClient) -> None:
    sign_in.complete("google", "alice@example.com")
    token = csrf_from(client, "/consent/calendar-choice?provider=google")
    refused = client.post(
        "/consent/calendar-choice", data={"provider": "google", "csrf_token": token}
    )
    assert refused.status_code == 409


def test_a_new_consent_text_version_asks_again(
    sign_in: Any, client: FlaskClient, redis_client: redis.Redis
) -> None:
    sign_in.complete("google", "alice@example.com")
    give_consent(sign_in, client, "google", "alice@example.com")
    page = client.get(f"/consent/{PURPOSE}?provider=google").get_data(as_text=True)
    assert 'id="already-given"' in page
    uid = client.get("/v1/me").get_json()["id"]
    field = f"{PURPOSE}|google"
    version, grant, given = json.loads(redis_client.hget(keys.consents(uid), field))
    assert version != "0"
    # the same consent under an older text version, in the form written before issue 17
    older = {"version": "0", "grant": grant, "given": given}
    redis_client.hset(keys.consents(uid), field, json.dumps(older))
    page = client.get(f"/consent/{PURPOSE}?provider=google").get_data(as_text=True)
    assert 'id="give-consent"' in page


def test_consent_replaces_an_older_grant_for_the_same_purpose(
    sign_in: Any, client: FlaskClient
) -> None:
    sign_in.complete("google", "alice@example.com")
    give_consent(sign_in, client, "google", "alice@example.com")
    give_consent(sign_in, client, "google", "alice@example.com")
    uid = client.get("/v1/me").get_json()["id"]
    grants = client.application.extensions["gateway"].grants.list(uid)
    assert len(grants) == 1


def test_disconnecting_a_grant_withdraws_its_consent_and_logs_it(
    sign_in: Any, client: FlaskClient, redis_client: redis.Redis
) -> None:
    """One state, shown one way: a disconnected calendar is no longer a consent given."""
    sign_in.complete("google", "alice@example.com")
    give_consent(sign_in, client, "google", "alice@example.com")
    give_consent(sign_in, client, "google", "alice@example.com", purpose="calendar-choice")
    uid = client.get("/v1/me").get_json()["id"]
    services = client.application.extensions["gateway"]
    (gid,) = [g.id for g in services.grants.list(uid) if g.purpose == PURPOSE]
    assert set(redis_client.hkeys(keys.consents(uid))) == {
        f"{PURPOSE}|google",
        "calendar-choice|google",
    }

    done = client.post(
        f"/account/grants/{gid}/disconnect", data={"csrf_token": csrf_from(client, "/account")}
    )
    assert done.status_code == 303 and done.headers["Location"] == "/account?done=disconnected"

    # Redis: nothing in force, and the history says why (the dependent purpose went with it).
    assert redis_client.hgetall(keys.consents(uid)) == {}
    # newest first, one compact JSON array per event: [at, purpose, provider, action,
    # version, digest, requested, granted, grant] (storage/consent_events.py)
    log = [json.loads(raw) for raw in redis_client.lrange(keys.consent_log(uid), 0, -1)][::-1]
    assert [(e[1], e[3]) for e in log] == [
        (PURPOSE, "given"),
        ("calendar-choice", "given"),
        (PURPOSE, "withdrawn"),
        ("calendar-choice", "withdrawn"),
    ]
    assert log[2][8] == gid and log[2][2] == "google"
    assert services.grants.get(uid, gid).status == "revoked"

    # The page: the grant says it was disconnected; no consent listed as given.
    page = client.get("/account").get_data(as_text=True)
    assert "You disconnected it." in page
    assert 'id="consents"' not in page and "withdraw-room-availability-google" not in page
    assert "You have not given any optional consent." in page
    assert page.count("<td>withdrawn</td>") == 2

    # Disconnecting again changes nothing and logs nothing more.
    again = client.post(
        f"/account/grants/{gid}/disconnect", data={"csrf_token": csrf_from(client, "/account")}
    )
    assert again.status_code == 303
    assert redis_client.llen(keys.consent_log(uid)) == 4


def test_a_grant_of_someone_else_answers_as_one_that_does_not_exist(
    sign_in: Any, client: FlaskClient, another_browser: Any
) -> None:
    """No oracle on grant ids either: another person's grant is "no such grant of yours"."""
    bob = another_browser()
    bob.complete("google", "bob@example.com")
    give_consent(bob, bob.client, "google", "bob@example.com")
    bobs_uid = bob.client.get("/v1/me").get_json()["id"]
    services = client.application.extensions["gateway"]
    (bobs,) = services.grants.list(bobs_uid)

    sign_in.complete("google", "alice@example.com")
    token = csrf_from(client, "/account")
    unknown = "A" * len(bobs.id)
    seen = []
    for gid in (bobs.id, unknown, "x:lock"):
        answer = client.post(
            f"/account/grants/{gid}/disconnect",
            data={"csrf_token": token},
            headers={"Accept": "application/json"},
        )
        seen.append((answer.status_code, answer.get_json()))
    refused = (404, {"error": "not_found", "message": "No such grant of yours."})
    assert seen == [refused, refused, refused]
    assert services.grants.get(bobs_uid, bobs.id).status == "active"


def test_a_consent_whose_grant_an_admin_revoked_says_nothing_uses_it(
    sign_in: Any, client: FlaskClient
) -> None:
    """An admin's revocation ends the access, not the person's consent (theirs to
    withdraw): the page says plainly that it is still in force, unused, and why."""
    sign_in.complete("google", "alice@example.com")
    give_consent(sign_in, client, "google", "alice@example.com")
    uid = client.get("/v1/me").get_json()["id"]
    services = client.application.extensions["gateway"]
    [gid] = [g.id for g in services.grants.list(uid)]
    page = client.get("/account").get_data(as_text=True)
    assert f'id="unused-{PURPOSE}-google"' not in page  # in use while the grant is active

    services.revocation.revoke_grant(
        uid, gid, reason="Room closed for refurbishment.", actor="operator"
    )
    page = client.get("/account").get_data(as_text=True)
    assert f'id="withdraw-{PURPOSE}-google"' in page  # still in force: the person's to withdraw
    unused = re.search(
        rf'<p class="consent-unused" id="unused-{PURPOSE}-google">(.*?)</p>', page, re.S
    )
    assert unused, "the page does not say that nothing uses the consent"
    said = " ".join(unused.group(1).split())
    assert "no calendar access uses it" in said
    assert "revoked (Room closed for refurbishment.)" in said
    assert f'href="/consent/{PURPOSE}?provider=google"' in said


def test_the_consent_page_states_the_legal_basis_once(sign_in: Any, client: FlaskClient) -> None:
    """The text's own legal basis names the article: the page does not repeat it below."""
    sign_in.complete("google", "alice@example.com")
    page = client.get(f"/consent/{PURPOSE}?provider=google").get_data(as_text=True)
    assert page.count("Article 6(1)(a)") == 1, page

"""Google calendarList.list through the real google-api-python-client, over HTTPS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google_auth_httplib2
import googleapiclient
import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from emulator.records import Fault

CALENDARLIST = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
REDIRECT_URI = "http://127.0.0.1:8000/auth/callback/google"
DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache/documents/calendar.v3.json"
SCHEMAS = json.loads(DISCOVERY.read_text(encoding="utf-8"))["schemas"]


def refresh_token(emu: Any, browser: Any, account: str, scopes: str) -> str:
    """Sign in at the emulator's Google with offline access; the refresh token it issues."""
    verifier, challenge = browser.pkce()
    emu.client.authorize_next(account)
    answer = browser.answer_of(
        browser.get(
            emu.url + "/o/oauth2/v2/auth",
            params={
                "client_id": DEFAULT_CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "scope": f"openid {scopes}",
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "access_type": "offline",
                "prompt": "consent",
            },
        )
    )
    response = browser.post(
        emu.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["refresh_token"])


def credentials(emu: Any, token: str, scopes: list[str]) -> Credentials:
    """google-auth credentials that refresh at the emulator's token endpoint."""
    return Credentials(
        token=None,
        refresh_token=token,
        token_uri=emu.url + "/token",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        scopes=scopes,
    )


def verified_http(emu: Any) -> httplib2.Http:
    return httplib2.Http(ca_certs=str(emu.ca_path), timeout=10)


def calendar_service(emu: Any, token: str, scopes: list[str]) -> Any:
    """The calendar v3 client of PROTOCOLS.md §1.9: bundled discovery, emulator endpoint,
    google-auth refreshing at the emulator's token endpoint, all over verified HTTPS."""
    http = google_auth_httplib2.AuthorizedHttp(
        credentials(emu, token, scopes), http=verified_http(emu)
    )
    return build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": f"{emu.url}/calendar/v3/"},
    )


@pytest.fixture
def alice(emu: Any, browser: Any) -> Iterator[Any]:
    token = refresh_token(emu, browser, "alice@example.com", CALENDARLIST)
    yield calendar_service(emu, token, [CALENDARLIST])


def test_lists_the_primary_and_secondary_calendars_in_googles_shape(emu: Any, alice: Any) -> None:
    answer = alice.calendarList().list().execute()

    assert answer["kind"] == "calendar#calendarList"
    assert set(answer) <= set(SCHEMAS["CalendarList"]["properties"])
    assert "nextPageToken" not in answer and answer["nextSyncToken"]
    items = answer["items"]
    assert [i["id"] for i in items if i.get("primary")] == ["alice@example.com"]
    assert len(items) == 3
    fields = set(SCHEMAS["CalendarListEntry"]["properties"])
    for item in items:
        assert set(item) <= fields, set(item) - fields
        assert item["kind"] == "calendar#calendarListEntry"
        assert item["accessRole"] in ("freeBusyReader", "reader", "writer", "owner")
        assert item["summary"] and item["timeZone"] and item["etag"].startswith('"')
    secondary = [i for i in items if not i.get("primary")]
    assert any(i["accessRole"] == "owner" and i.get("dataOwner") for i in secondary)
    assert any(i["accessRole"] == "reader" for i in secondary)
    assert emu.client.calls()["google.calendarlist"] == 1


def test_pages_follow_max_results_and_next_page_token(emu: Any, alice: Any) -> None:
    request = alice.calendarList().list(maxResults=1)
    pages = []
    while request is not None:
        page = request.execute()
        pages.append(page)
        request = alice.calendarList().list_next(request, page)

    assert [len(p["items"]) for p in pages] == [1, 1, 1]
    assert all("nextPageToken" in p and "nextSyncToken" not in p for p in pages[:-1])
    assert "nextSyncToken" in pages[-1]
    ids = [p["items"][0]["id"] for p in pages]
    assert ids == [i["id"] for i in alice.calendarList().list().execute()["items"]]
    assert emu.client.calls()["google.calendarlist"] == 4


def test_min_access_role_leaves_out_calendars_with_less_access(alice: Any) -> None:
    def listed(role: str) -> int:
        return len(alice.calendarList().list(minAccessRole=role).execute()["items"])

    assert listed("freeBusyReader") == listed("reader") == 3
    assert listed("writer") == listed("owner") == 2


def test_a_sync_token_reports_no_changes_and_a_foreign_one_needs_a_full_sync(
    emu: Any, browser: Any, alice: Any
) -> None:
    first = alice.calendarList().list().execute()
    again = alice.calendarList().list(syncToken=first["nextSyncToken"]).execute()
    assert again["items"] == [] and again["nextSyncToken"]

    bob = calendar_service(
        emu, refresh_token(emu, browser, "bob@example.com", CALENDARLIST), [CALENDARLIST]
    )
    with pytest.raises(HttpError) as refused:
        bob.calendarList().list(syncToken=first["nextSyncToken"]).execute()
    assert refused.value.resp.status == 410
    assert refused.value.error_details[0]["reason"] == "fullSyncRequired"


def test_each_account_sees_its_own_calendars(emu: Any, browser: Any, alice: Any) -> None:
    emu.client.add_account("zoe@example.com", "Zoe Added", "google")
    zoe = calendar_service(
        emu, refresh_token(emu, browser, "zoe@example.com", CALENDARLIST), [CALENDARLIST]
    )
    mine = {i["id"] for i in alice.calendarList().list().execute()["items"]}
    theirs = {i["id"] for i in zoe.calendarList().list().execute()["items"]}
    assert "alice@example.com" in mine and "zoe@example.com" in theirs
    assert len(mine - theirs) == 2  # the primary and the room calendar are personal


def test_needs_a_token_with_a_scope_that_allows_listing(emu: Any, browser: Any) -> None:
    freebusy_only = calendar_service(
        emu, refresh_token(emu, browser, "alice@example.com", FREEBUSY), [FREEBUSY]
    )
    with pytest.raises(HttpError) as refused:
        freebusy_only.calendarList().list().execute()
    assert refused.value.resp.status == 403
    assert refused.value.error_details[0]["reason"] == "insufficientPermissions"

    for header in ({}, {"Authorization": "Bearer ya29.not-a-token"}):
        answer = browser.get(emu.url + "/calendar/v3/users/me/calendarList", headers=header)
        assert answer.status_code == 401
        assert answer.json()["error"]["errors"][0]["reason"] == "authError"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("maxResults=0", "maxResults"),
        ("maxResults=many", "maxResults"),
        ("minAccessRole=boss", "minAccessRole"),
        ("pageToken=not-ours", "pageToken"),
        ("showHidden=maybe", "showHidden"),
    ],
)
def test_bad_parameters_get_a_400_naming_them(
    emu: Any, browser: Any, query: str, parameter: str
) -> None:
    alice = credentials(
        emu, refresh_token(emu, browser, "alice@example.com", CALENDARLIST), [CALENDARLIST]
    )
    alice.refresh(google_auth_httplib2.Request(verified_http(emu)))
    token = alice.token
    answer = browser.get(
        f"{emu.url}/calendar/v3/users/me/calendarList?{query}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"][0]["location"] == parameter


def test_faults_are_injected_in_the_calendar_api_shape(emu: Any, alice: Any) -> None:
    # Queued on the state directly: control_faults.py accepts only names listed in state.ENDPOINTS.
    with emu.state.lock:
        emu.state.faults["google.calendarlist"].append(Fault(status=429))
        emu.state.faults["google.calendarlist"].append(Fault(status=403))
    request = alice.calendarList().list()
    request._sleep = lambda seconds: None  # googleapiclient backs off between retries
    answer = request.execute(num_retries=2)  # it retries 429 and 403 rateLimitExceeded

    assert len(answer["items"]) == 3
    assert emu.client.calls()["google.calendarlist"] == 3

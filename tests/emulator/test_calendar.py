"""Calendar APIs behind real access tokens: freeBusy, getSchedule, rooms; scope and limits."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
WINDOW = {"timeMin": "2026-01-05T00:00:00Z", "timeMax": "2026-01-06T00:00:00Z"}
PATHS = {
    "google": ("/o/oauth2/v2/auth", "/token", "google"),
    "microsoft": (
        "/organizations/oauth2/v2.0/authorize",
        "/organizations/oauth2/v2.0/token",
        "microsoft",
    ),
}


def access_token(emu: Any, browser: Any, provider: str, account: str, scopes: str) -> str:
    authorize, token, callback = PATHS[provider]
    redirect_uri = f"http://127.0.0.1:8000/auth/callback/{callback}"
    verifier, challenge = browser.pkce()
    emu.client.authorize_next(account)
    answer = browser.answer_of(
        browser.get(
            emu.url + authorize,
            params={
                "client_id": DEFAULT_CLIENT_ID,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": f"openid {scopes}",
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
    )
    response = browser.post(
        emu.url + token,
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    return str(response.json()["access_token"])


def freebusy(emu: Any, browser: Any, token: str, body: dict[str, Any], path: str = "") -> Any:
    return browser.post(
        f"{emu.url}/calendar/v3/freeBusy{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        params={"alt": "json"},
    )


def test_google_freebusy_clips_merges_and_reports_unknown_calendars(emu: Any, browser: Any) -> None:
    emu.client.add_event(
        "alice@example.com",
        "2026-01-05T10:00:00Z",
        "2026-01-05T11:00:00Z",
        summary="Secret project",
    )
    emu.client.add_event("alice@example.com", "2026-01-05T10:30:00Z", "2026-01-05T12:00:00Z")
    emu.client.add_event(
        "alice@example.com", "2026-01-05T13:00:00Z", "2026-01-05T14:00:00Z", show_as="free"
    )
    emu.client.add_event("alice@example.com", "2026-01-05T23:00:00Z", "2026-01-06T02:00:00Z")
    emu.client.add_event(
        "bob@example.com",
        "2026-01-05T09:00:00Z",
        "2026-01-05T09:30:00Z",
        calendar="c_room1@resource.calendar.google.com",
    )
    token = access_token(emu, browser, "google", "alice@example.com", FREEBUSY)
    items = [
        {"id": "primary"},
        {"id": "c_room1@resource.calendar.google.com"},
        {"id": "nobody@example.com"},
    ]
    answer = freebusy(emu, browser, token, {**WINDOW, "items": items}, "/")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kind"] == "calendar#freeBusy"
    assert body["timeMin"] == "2026-01-05T00:00:00.000Z"
    calendars = body["calendars"]
    assert calendars["primary"]["busy"] == [
        {"start": "2026-01-05T10:00:00Z", "end": "2026-01-05T12:00:00Z"},
        {"start": "2026-01-05T23:00:00Z", "end": "2026-01-06T00:00:00Z"},
    ]
    assert calendars["c_room1@resource.calendar.google.com"]["busy"] == [
        {"start": "2026-01-05T09:00:00Z", "end": "2026-01-05T09:30:00Z"}
    ]
    assert calendars["nobody@example.com"]["errors"] == [{"domain": "global", "reason": "notFound"}]
    assert "Secret" not in answer.text
    assert emu.client.calls()["google.freebusy"] == 1


def test_google_freebusy_needs_a_token_with_a_calendar_scope(emu: Any, browser: Any) -> None:
    assert freebusy(emu, browser, "nope", WINDOW).json()["error"]["errors"][0]["reason"] == (
        "authError"
    )
    token = access_token(emu, browser, "google", "alice@example.com", "email")
    refused = freebusy(emu, browser, token, WINDOW)
    assert refused.status_code == 403
    assert refused.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_google_freebusy_limits(emu: Any, browser: Any) -> None:
    token = access_token(emu, browser, "google", "alice@example.com", FREEBUSY)
    empty = freebusy(
        emu, browser, token, {"timeMin": WINDOW["timeMax"], "timeMax": WINDOW["timeMin"]}
    )
    assert empty.json()["error"]["errors"][0]["reason"] == "timeRangeEmpty"
    long = freebusy(
        emu, browser, token, {"timeMin": "2026-01-01T00:00:00Z", "timeMax": "2026-04-15T00:00:00Z"}
    )
    assert long.status_code == 400
    assert long.json()["error"]["errors"][0]["reason"] == "timeRangeTooLong"
    items = [{"id": f"c{n}@group.calendar.google.com"} for n in range(51)]
    many = freebusy(emu, browser, token, {**WINDOW, "items": items}).json()["calendars"]
    assert many["c50@group.calendar.google.com"]["errors"][0]["reason"] == (
        "tooManyCalendarsRequested"
    )
    assert many["c49@group.calendar.google.com"]["errors"][0]["reason"] == "notFound"


def schedule(
    emu: Any, browser: Any, token: str, schedules: list[str], end: str, **headers: str
) -> Any:
    body = {
        "schedules": schedules,
        "startTime": {"dateTime": "2026-01-05T08:00:00", "timeZone": "UTC"},
        "endTime": {"dateTime": end, "timeZone": "UTC"},
        "availabilityViewInterval": "60",
    }
    return browser.post(
        f"{emu.url}/v1.0/me/calendar/getSchedule",
        json=body,
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def test_graph_get_schedule(emu: Any, browser: Any) -> None:
    emu.client.add_event(
        "room-atlas@contoso.example",
        "2026-01-05T09:00:00Z",
        "2026-01-05T10:30:00Z",
        summary="Board",
        location="Atlas",
    )
    emu.client.add_event(
        "dave@contoso.example", "2026-01-05T11:00:00Z", "2026-01-05T12:00:00Z", show_as="tentative"
    )
    token = access_token(emu, browser, "microsoft", "carol@contoso.example", "Calendars.ReadBasic")
    answer = schedule(
        emu,
        browser,
        token,
        ["room-atlas@contoso.example", "dave@contoso.example", "room-delta@fabrikam.example"],
        "2026-01-05T13:00:00",
        Prefer='outlook.timezone="W. Europe Standard Time"',
    )
    assert answer.status_code == 200, answer.text
    atlas, dave, other = answer.json()["value"]
    assert atlas["availabilityView"] == "02200"
    assert atlas["scheduleItems"][0]["subject"] == "Board"  # Graph shares it; the gateway strips
    assert atlas["scheduleItems"][0]["start"] == {
        "dateTime": "2026-01-05T10:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }
    assert dave["availabilityView"] == "00010"
    assert other["error"]["responseCode"] == "ErrorMailRecipientNotFound"


def test_graph_get_schedule_limits_and_scope(emu: Any, browser: Any) -> None:
    token = access_token(emu, browser, "microsoft", "carol@contoso.example", "Calendars.ReadBasic")
    too_long = schedule(emu, browser, token, ["dave@contoso.example"], "2026-03-08T08:00:00")
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "ErrorTimeIntervalTooBig"
    too_many = schedule(
        emu, browser, token, [f"p{n}@contoso.example" for n in range(21)], "2026-01-05T09:00:00"
    )
    assert too_many.status_code == 400
    no_scope = access_token(emu, browser, "microsoft", "carol@contoso.example", "User.Read")
    refused = schedule(emu, browser, no_scope, ["dave@contoso.example"], "2026-01-05T09:00:00")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ErrorAccessDenied"


def test_graph_rooms_of_the_callers_tenant_with_paging(emu: Any, browser: Any) -> None:
    token = access_token(emu, browser, "microsoft", "carol@contoso.example", "Place.Read.All")
    headers = {"Authorization": f"Bearer {token}"}
    first = browser.get(
        f"{emu.url}/v1.0/places/microsoft.graph.room?$top=2", headers=headers
    ).json()
    assert [r["emailAddress"] for r in first["value"]] == [
        "room-atlas@contoso.example",
        "room-borealis@contoso.example",
    ]
    rest = browser.get(first["@odata.nextLink"], headers=headers).json()
    assert [r["displayName"] for r in rest["value"]] == ["Cirrus"]
    assert "@odata.nextLink" not in rest


@pytest.mark.parametrize("endpoint", ["microsoft.getschedule", "microsoft.rooms"])
def test_graph_429_has_a_fractional_retry_after(emu: Any, browser: Any, endpoint: str) -> None:
    emu.client.fault(endpoint, status=429, retry_after="2.128")
    path = (
        "/v1.0/me/calendar/getSchedule"
        if endpoint.endswith("getschedule")
        else "/v1.0/places/microsoft.graph.room"
    )
    call = browser.post if endpoint.endswith("getschedule") else browser.get
    answer = call(emu.url + path)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "2.128"
    assert answer.json()["error"]["code"] == "TooManyRequests"

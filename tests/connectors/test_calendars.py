"""Free/busy through the real google-api-python-client and Graph getSchedule: times only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.errors import AccessRefused, ProviderUnavailable, ScopeRefused
from connectors.google import GoogleConnector
from connectors.google_calendar import _calendar_busy as _google_calendar
from connectors.http import retry_after
from connectors.microsoft import MicrosoftConnector
from connectors.microsoft_graph import _graph_schedule
from tests.connectors.grants_support import (
    ALICE,
    CALENDARS,
    CAROL,
    FREEBUSY,
    google,
    grant,
    microsoft,
)

START = datetime(2026, 11, 25, tzinfo=UTC)
END = datetime(2026, 11, 26, tzinfo=UTC)
PLANTED = ("Secret merger talk", "Boardroom 7", "ceo@example.com")


def plant(emulator: Any, account: str) -> None:
    emulator.client.add_event(
        account,
        "2026-11-25T10:00:00Z",
        "2026-11-25T11:30:00Z",
        summary=PLANTED[0],
        location=PLANTED[1],
        attendees=[PLANTED[2]],
    )
    emulator.client.add_event(
        account, "2026-11-25T23:00:00Z", "2026-11-26T01:00:00Z", summary=PLANTED[0]
    )
    emulator.client.add_event(
        account, "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z", show_as="free"
    )


def google_api(emulator: Any) -> GoogleConnector:
    """Free/busy is the connector's own (connectors/google.py), at the emulator's origin."""
    api = google(emulator)
    assert api.calendar_api == f"{emulator.url}/calendar/v3/"
    return api


def graph_api(emulator: Any) -> MicrosoftConnector:
    api = microsoft(emulator)
    assert api.graph_base == emulator.url
    return api


def test_google_free_busy_is_start_and_end_only(emulator: Any) -> None:
    tokens = grant(google(emulator), emulator, ALICE, FREEBUSY)
    plant(emulator, ALICE)
    answer = google_api(emulator).free_busy(
        str(tokens.access_token), ["primary", "nobody@example.com"], START, END
    )
    assert answer["primary"].busy == (
        (datetime(2026, 11, 25, 10, tzinfo=UTC), datetime(2026, 11, 25, 11, 30, tzinfo=UTC)),
        (datetime(2026, 11, 25, 23, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)),
    )
    assert answer["primary"].error is None
    assert answer["nobody@example.com"].error == "notFound"
    assert not any(p in repr(answer) for p in PLANTED)


def test_graph_get_schedule_drops_subjects_and_locations(emulator: Any) -> None:
    tokens = grant(microsoft(emulator), emulator, CAROL, CALENDARS)
    plant(emulator, CAROL)
    answer = graph_api(emulator).free_busy(
        str(tokens.access_token), ["primary", "nobody@contoso.example"], START, END
    )
    assert answer["primary"].busy[0] == (
        datetime(2026, 11, 25, 10, tzinfo=UTC),
        datetime(2026, 11, 25, 11, 30, tzinfo=UTC),
    )
    assert all(
        start != datetime(2026, 11, 25, 14, tzinfo=UTC) for start, _ in answer["primary"].busy
    )
    assert answer["nobody@contoso.example"].error
    assert not any(p in repr(answer) for p in PLANTED)


@pytest.mark.parametrize(
    ("endpoint", "api"), [("google.freebusy", google_api), ("microsoft.getschedule", graph_api)]
)
def test_throttling_carries_retry_after(emulator: Any, endpoint: str, api: Any) -> None:
    connector = google(emulator) if endpoint.startswith("google") else microsoft(emulator)
    tokens = grant(
        connector,
        emulator,
        ALICE if endpoint.startswith("google") else CAROL,
        FREEBUSY if endpoint.startswith("google") else CALENDARS,
    )
    emulator.client.fault(endpoint, status=429, retry_after=1.5)
    with pytest.raises(ProviderUnavailable) as raised:
        api(emulator).free_busy(str(tokens.access_token), ["primary"], START, END)
    assert raised.value.retry_after == pytest.approx(1.5)
    assert str(tokens.access_token) not in str(raised.value)


@pytest.mark.parametrize("fault", [{"status": 500}, {"body": "malformed"}])
def test_google_failures_are_provider_unavailable(emulator: Any, fault: dict[str, Any]) -> None:
    tokens = grant(google(emulator), emulator, ALICE, FREEBUSY)
    emulator.client.fault("google.freebusy", **fault)
    with pytest.raises(ProviderUnavailable):
        google_api(emulator).free_busy(str(tokens.access_token), ["primary"], START, END)


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("2.5") == 2.5
    assert retry_after(None) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# -- "we don't know" is never free (issue 13, item 9) -------------------------------------
TEN, HALF_PAST, ELEVEN = (datetime(2026, 11, 25, 10, m, tzinfo=UTC) for m in (0, 30, 59))


def test_a_graph_item_whose_status_is_unknown_is_busy(emulator: Any) -> None:
    """Pinned choice: an `unknown` item is published busy (not the whole room unknown),
    even when the availabilityView calls its slots free."""
    tokens = grant(microsoft(emulator), emulator, CAROL, CALENDARS)
    emulator.client.add_event(
        CAROL, "2026-11-25T10:00:00Z", "2026-11-25T10:30:00Z", show_as="unknown", view_code="0"
    )
    answer = graph_api(emulator).free_busy(str(tokens.access_token), ["primary"], START, END)
    assert answer["primary"].error is None
    assert answer["primary"].busy == ((TEN, HALF_PAST),)


@pytest.mark.parametrize("code", ["4", "5", "9", "?"])
def test_an_availability_view_code_graph_does_not_document_is_busy(
    emulator: Any, code: str
) -> None:
    """0-3 are Graph's codes (4 is EWS's merged "no data"; Graph sends workingElsewhere as
    0): a slot with any other code is busy, even when every item in it says free."""
    tokens = grant(microsoft(emulator), emulator, CAROL, CALENDARS)
    emulator.client.add_event(
        CAROL, "2026-11-25T10:05:00Z", "2026-11-25T10:20:00Z", show_as="free", view_code=code
    )
    answer = graph_api(emulator).free_busy(str(tokens.access_token), ["primary"], START, END)
    assert answer["primary"].busy == ((TEN, HALF_PAST),)


def test_a_busy_view_slot_without_an_item_is_busy(emulator: Any) -> None:
    tokens = grant(microsoft(emulator), emulator, CAROL, CALENDARS)
    emulator.client.add_event(
        CAROL, "2026-11-25T10:00:00Z", "2026-11-25T10:30:00Z", show_as="free", view_code="2"
    )
    answer = graph_api(emulator).free_busy(str(tokens.access_token), ["primary"], START, END)
    assert answer["primary"].busy == ((TEN, HALF_PAST),)


def test_items_keep_their_exact_times_where_the_view_agrees(emulator: Any) -> None:
    tokens = grant(microsoft(emulator), emulator, CAROL, CALENDARS)
    emulator.client.add_event(CAROL, "2026-11-25T10:10:00Z", "2026-11-25T10:20:00Z")
    emulator.client.add_event(
        CAROL, "2026-11-25T11:00:00Z", "2026-11-25T11:30:00Z", show_as="workingElsewhere"
    )
    answer = graph_api(emulator).free_busy(str(tokens.access_token), ["primary"], START, END)
    assert answer["primary"].busy == (
        (datetime(2026, 11, 25, 10, 10, tzinfo=UTC), datetime(2026, 11, 25, 10, 20, tzinfo=UTC)),
    )


VIEW = "0" * 48


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (None, "missing"),
        (
            {"scheduleId": "a@b", "error": {"responseCode": "ErrorMailRecipientNotFound"}},
            "ErrorMailRecipientNotFound",
        ),
        (
            {"scheduleId": "a@b", "scheduleItems": [], "availabilityView": VIEW, "error": "x"},
            "error",
        ),
        ({"scheduleId": "a@b", "availabilityView": VIEW}, "malformed"),
        ({"scheduleId": "a@b", "scheduleItems": [], "availabilityView": "000"}, "malformed"),
        (
            {"scheduleId": "a@b", "scheduleItems": [{"status": "busy"}], "availabilityView": VIEW},
            "malformed",
        ),
    ],
)
def test_a_graph_schedule_that_cannot_be_read_is_an_error(entry: Any, error: str) -> None:
    assert _graph_schedule(entry, START, END).error == error


def test_a_graph_item_without_a_status_is_busy() -> None:
    item = {
        "start": {"dateTime": "2026-11-25T10:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T10:30:00.0000000", "timeZone": "UTC"},
    }
    found = _graph_schedule({"scheduleItems": [item], "availabilityView": VIEW}, START, END)
    assert found.busy == ((TEN, HALF_PAST),)


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (None, "missing"),
        ({"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}, "notFound"),
        ({"errors": [{"domain": "global", "reason": "internalError"}]}, "internalError"),
        ({"errors": {"reason": "backendError"}, "busy": []}, "error"),
        ({}, "malformed"),
        ({"busy": [{"start": "2026-11-25T10:00:00Z"}]}, "malformed"),
        ({"busy": [{"start": "2026-11-25T11:00:00Z", "end": "2026-11-25T10:00:00Z"}]}, "malformed"),
    ],
)
def test_a_google_calendar_that_cannot_be_read_is_an_error(entry: Any, error: str) -> None:
    assert _google_calendar(entry).error == error


# -- refusals are the grant's state, not an outage (issue 13, item 10) -----------------------
@pytest.mark.parametrize(
    ("endpoint", "error", "raised"),
    [
        ("google.freebusy", {"status": 401}, AccessRefused),
        ("microsoft.getschedule", {"status": 401}, AccessRefused),
        ("google.freebusy", {"error": "insufficient_scope"}, ScopeRefused),
        ("microsoft.getschedule", {"error": "insufficient_scope"}, ScopeRefused),
    ],
)
def test_a_refused_token_is_access_refused_never_refresh_error(
    emulator: Any, endpoint: str, error: dict[str, Any], raised: type[Exception]
) -> None:
    """google-auth's AuthorizedHttp used to try a refresh of its own on a 401 and raise
    RefreshError, which no caller mapped."""
    google_side = endpoint.startswith("google")
    connector = google(emulator) if google_side else microsoft(emulator)
    tokens = grant(
        connector, emulator, ALICE if google_side else CAROL, FREEBUSY if google_side else CALENDARS
    )
    api = google_api(emulator) if google_side else graph_api(emulator)
    emulator.client.fault(endpoint, **error)
    with pytest.raises(raised) as refused:
        api.free_busy(str(tokens.access_token), ["team@example.com"], START, END)
    assert str(tokens.access_token) not in str(refused.value)


def test_a_google_rate_limit_403_stays_an_outage(emulator: Any) -> None:
    tokens = grant(google(emulator), emulator, ALICE, FREEBUSY)
    emulator.client.fault("google.freebusy", status=403)
    with pytest.raises(ProviderUnavailable):
        google_api(emulator).free_busy(str(tokens.access_token), ["primary"], START, END)


# -- caches (issue 13, item 12) ---------------------------------------------------------------
def test_the_mailbox_cache_is_keyed_by_grant_and_forgotten(emulator: Any) -> None:
    tokens = grant(microsoft(emulator), emulator, CAROL, CALENDARS)
    api = graph_api(emulator)
    api.free_busy(str(tokens.access_token), ["primary"], START, END, "grant-1")
    assert api._addresses == {"grant-1": CAROL}
    before = emulator.client.calls()["microsoft.userinfo"]
    api.free_busy(str(tokens.access_token), ["primary"], START, END, "grant-1")
    assert emulator.client.calls()["microsoft.userinfo"] == before  # remembered
    api.forget_grant("grant-1")
    assert api._addresses == {}


def test_a_google_freebusy_request_is_the_one_the_discovery_method_builds(emulator: Any) -> None:
    """The connector keeps one request the Resource made and varies its body: each call's
    request has the URI, method, headers, body and method id that `freebusy().query` gives."""
    api = google_api(emulator)
    for calendars in (["primary"], ["a@example.com", "room-7@example.com"]):
        body = {"timeMin": "2026-11-25T00:00:00Z", "items": [{"id": c} for c in calendars]}
        made = api._freebusy_request(body)
        expected = api._freebusy_service().freebusy().query(body=body)
        assert (made.uri, made.method, made.body, made.headers, made.methodId) == (
            expected.uri,
            expected.method,
            expected.body,
            expected.headers,
            expected.methodId,
        )
        assert made.postproc.__func__ is expected.postproc.__func__

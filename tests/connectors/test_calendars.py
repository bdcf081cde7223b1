"""Free/busy through the real google-api-python-client and Graph getSchedule: times only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.calendars import GoogleCalendarApi, GraphCalendarApi, retry_after
from connectors.errors import ProviderUnavailable
from connectors.http import ProviderSession
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


def google_api(emulator: Any) -> GoogleCalendarApi:
    return GoogleCalendarApi(f"{emulator.url}/calendar/v3/", str(emulator.ca_path))


def graph_api(emulator: Any) -> GraphCalendarApi:
    return GraphCalendarApi(ProviderSession(str(emulator.ca_path)), emulator.url)


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

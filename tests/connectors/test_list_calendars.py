"""Listing a person's calendars: Google's calendarList through the real
google-api-python-client against the emulator over HTTPS, and Microsoft's mailbox."""

from __future__ import annotations

from typing import Any

import httplib2
import pytest

from connectors.errors import AuthorizationDenied, ProviderUnavailable
from connectors.google import GOOGLE_API_BASE, GoogleConnector
from connectors.values import CalendarInfo
from emulator.calendar_list import HOLIDAYS_ID
from emulator.records import Fault
from tests.connectors.grants_support import ALICE, CALENDARS, CAROL, FREEBUSY, google, grant
from tests.connectors.grants_support import microsoft as microsoft_connector

CALENDAR_LIST = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"


@pytest.fixture
def connector(emulator: Any) -> GoogleConnector:
    return google(emulator)


def token_for(connector: GoogleConnector, emulator: Any, scope: str = CALENDAR_LIST) -> str:
    tokens = grant(connector, emulator, ALICE, scope)
    assert tokens.access_token
    return tokens.access_token


def queue(emulator: Any, *faults: Fault) -> None:
    # Queued on the state: the control API accepts only the endpoints state.ENDPOINTS names.
    with emulator.state.lock:
        emulator.state.faults["google.calendarlist"].extend(faults)


def test_lists_the_calendars_primary_first_with_names_and_roles(
    connector: GoogleConnector, emulator: Any
) -> None:
    calendars = connector.list_calendars(token_for(connector, emulator))

    assert all(isinstance(c, CalendarInfo) for c in calendars)
    assert calendars[0] == CalendarInfo(ALICE, ALICE, primary=True, access_role="owner")
    assert [c.primary for c in calendars] == [True, False, False]
    room = calendars[1]
    assert room.id.endswith("@group.calendar.google.com")
    assert room.name == "Meeting room of Alice Example"
    assert room.access_role == "owner"
    assert calendars[2] == CalendarInfo(
        HOLIDAYS_ID, "Holidays in Belgium", primary=False, access_role="reader"
    )
    assert emulator.client.calls()["google.calendarlist"] == 1


def test_real_google_is_reached_at_googleapis_and_the_emulator_at_its_origin(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def fake_build(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["client_options"]["api_endpoint"])
        raise httplib2.HttpLib2Error("stop here")

    monkeypatch.setattr("connectors.google_calendar.build", fake_build)
    for connector in (GoogleConnector(client_id="c", client_secret="s"), google(emulator)):
        with pytest.raises(ProviderUnavailable):
            connector.list_calendars("ya29.token")
    assert seen == [f"{GOOGLE_API_BASE}/calendar/v3/", f"{emulator.url}/calendar/v3/"]
    assert GOOGLE_API_BASE == "https://www.googleapis.com"


def test_a_token_without_a_listing_scope_is_refused(
    connector: GoogleConnector, emulator: Any
) -> None:
    token = token_for(connector, emulator, FREEBUSY)
    with pytest.raises(AuthorizationDenied) as refused:
        connector.list_calendars(token)
    assert refused.value.code == "insufficient_scope"
    assert token not in str(refused.value)


def test_an_unknown_token_is_refused(connector: GoogleConnector) -> None:
    with pytest.raises(AuthorizationDenied) as refused:
        connector.list_calendars("ya29.not-a-token")
    assert refused.value.code == "invalid_token"


def test_a_server_error_is_retried_once_then_reported_unavailable(
    connector: GoogleConnector, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # googleapiclient's back-off
    token = token_for(connector, emulator)
    queue(emulator, Fault(status=503))
    assert len(connector.list_calendars(token)) == 3  # one retry absorbs one 503

    queue(emulator, Fault(status=503), Fault(status=503))
    with pytest.raises(ProviderUnavailable):
        connector.list_calendars(token)


def test_microsoft_offers_the_own_mailbox_without_calling_graph(emulator: Any) -> None:
    connector = microsoft_connector(emulator)
    tokens = grant(connector, emulator, CAROL, CALENDARS)
    before = emulator.client.calls()
    assert tokens.access_token
    assert connector.list_calendars(tokens.access_token) == [
        CalendarInfo("primary", "Your mailbox", primary=True, access_role="owner")
    ]
    assert emulator.client.calls() == before

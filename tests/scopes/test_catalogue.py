"""The purpose catalogue keeps its promises: complete, known scopes, bounded retention."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import googleapiclient
import pytest
from pydantic import ValidationError

from connectors.caldav import SCOPES as CALDAV_SCOPES
from connectors.ics import SCOPES as ICS_SCOPES
from scopes import (
    LEGAL_BASES,
    MICROSOFT_PERMISSIONS,
    OIDC_SCOPES,
    CatalogueError,
    Purpose,
    PurposeNotOffered,
    UnknownCategory,
    UnknownPurpose,
    load_catalogue,
    parse_catalogue,
)
from scopes.catalogue import CATALOGUE_FILE

CATALOGUE = load_catalogue()
PURPOSES = {p.id: p for p in CATALOGUE.purposes}
DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache/documents/calendar.v3.json"
FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
EVENTS_FREEBUSY = "https://www.googleapis.com/auth/calendar.events.freebusy"
CALENDARLIST = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"

# Each consent text version, pinned to the digest of its exact text: editing a text without
# bumping its version fails here, because people consented to the old words.
CONSENT_TEXTS = {
    ("sign-in", "1"): "ec236402cdd4c97f27d41608b0066b8654e6bec4942423b9bac45cc354af66f6",
    # version 1 (calendar.freebusy; such grants are polled) was 2f1c2d7c...52ae3da, version 2
    # (Calendars.ReadBasic at Microsoft; such grants are polled) was b7bec6d3...0082365
    ("room-availability", "3"): "2b9e4b76f600518cdc58371ac185fa8a0f6f6d8891a917f3db0a22380bef91ac",
    # version 1 (Microsoft: "the same permission as room availability") was 84f51b3d...b0b2
    ("calendar-choice", "2"): "e4ac1d70573eb3b05776c9a034d015055930af38592f18133660d796027ec052",
}


def google_scopes() -> dict[str, dict[str, object]]:
    document = json.loads(DISCOVERY.read_text(encoding="utf-8"))
    return dict(document["auth"]["oauth2"]["scopes"])


def google_methods() -> dict[str, set[str]]:
    """Discovery method id (calendarList.list) -> the scopes that allow it."""
    document = json.loads(DISCOVERY.read_text(encoding="utf-8"))
    return {
        f"{resource}.{method}": set(details.get("scopes", ()))
        for resource, spec in document["resources"].items()
        for method, details in spec.get("methods", {}).items()
    }


def google_methods_allowing(scope: str) -> set[str]:
    return {method for method, scopes in google_methods().items() if scope in scopes}


def narrowest_google_scopes(method: str) -> set[str]:
    """Of the scopes that allow `method`, those that allow the fewest methods."""
    candidates = google_methods()[method]
    fewest = min(len(google_methods_allowing(s)) for s in candidates)
    return {s for s in candidates if len(google_methods_allowing(s)) == fewest}


KNOWN = {
    "google": set(google_scopes()) | set(OIDC_SCOPES),
    "microsoft": set(MICROSOFT_PERMISSIONS),
    "oidc": set(OIDC_SCOPES),
    "caldav": set(CALDAV_SCOPES),
    "ics": set(ICS_SCOPES),
}


def test_the_catalogue_has_a_version_and_the_required_purposes() -> None:
    assert CATALOGUE.version
    assert {"sign-in", "room-availability", "calendar-choice"} <= set(PURPOSES)
    assert PURPOSES["calendar-choice"].optional


def test_ids_are_unique() -> None:
    activities = [a.id for a in CATALOGUE.activities]
    categories = [c.id for c in CATALOGUE.data_categories]
    assert len(activities) == len(set(activities))
    assert len(categories) == len(set(categories))


@pytest.mark.parametrize("purpose", CATALOGUE.purposes, ids=lambda p: p.id)
def test_every_purpose_is_complete(purpose: Purpose) -> None:
    assert purpose.title and purpose.description
    assert purpose.data_subjects and all(purpose.data_subjects)
    assert purpose.data_categories
    assert purpose.recipients and all(r.who and r.sees for r in purpose.recipients)
    assert {"google", "microsoft"} <= set(purpose.providers)
    consent = purpose.consent
    assert consent.version.strip()
    assert all(text.strip() for _, text in consent.sections())
    if purpose.legal_basis == "consent":
        assert purpose.optional, "consent that is a condition of service is not freely given"


@pytest.mark.parametrize("purpose", CATALOGUE.purposes, ids=lambda p: p.id)
def test_every_scope_is_known_to_its_provider_and_has_a_source(purpose: Purpose) -> None:
    for kind in purpose.providers:
        for entry in purpose.scopes[kind]:
            assert entry.scope in KNOWN[kind], f"{kind} does not know {entry.scope}"
            assert entry.source.startswith("https://")
            assert entry.why
            for alias in entry.echoed_as:
                assert alias in KNOWN[kind] or alias.startswith(
                    "https://www.googleapis.com/auth/userinfo."
                )


def test_legal_bases_come_from_the_allowed_set_and_are_all_described() -> None:
    assert set(CATALOGUE.legal_bases) == set(LEGAL_BASES)
    for activity in CATALOGUE.activities:
        assert activity.legal_basis in LEGAL_BASES
    for described in CATALOGUE.legal_bases.values():
        assert described.article.startswith("GDPR Article 6(1)")


def test_every_data_category_is_used_and_has_a_bounded_retention() -> None:
    used = {c for a in CATALOGUE.activities for c in a.data_categories}
    assert used == {c.id for c in CATALOGUE.data_categories}
    for category in CATALOGUE.data_categories:
        retention = category.retention
        assert retention.text
        assert retention.max_age or retention.idle or retention.until, category.id


def test_every_activity_has_a_retention_for_each_of_its_categories() -> None:
    for activity in CATALOGUE.activities:
        for category in CATALOGUE.categories_of(activity):
            assert category.retention.text, (activity.id, category.id)


def test_consent_text_versions_are_pinned_to_their_text() -> None:
    found = {(p.id, p.consent.version): p.consent.digest for p in CATALOGUE.purposes}
    assert found == CONSENT_TEXTS, "a consent text changed: bump its version and pin it here"


# -- the scopes chosen, and why they are the narrowest -------------------------------------


def test_room_availability_asks_for_the_narrowest_scopes() -> None:
    purpose = PURPOSES["room-availability"]
    # free/busy and a push channel (events.watch): the narrowest scope that allows both
    assert purpose.scopes_for("google") == (EVENTS_FREEBUSY,)
    both = google_methods()["freebusy.query"] & google_methods()["events.watch"]
    fewest = min(len(google_methods_allowing(s)) for s in both)
    assert {s for s in both if len(google_methods_allowing(s)) == fewest} == {EVENTS_FREEBUSY}
    assert narrowest_google_scopes("freebusy.query") == {FREEBUSY}
    assert google_methods_allowing(FREEBUSY) == {"freebusy.query"}
    # getSchedule and a change-notification subscription on events (Calendars.Read: the
    # create-subscription permissions table lists no Calendars.ReadBasic for events)
    assert purpose.scopes_for("microsoft") == ("Calendars.Read", "offline_access")


def test_calendar_choice_asks_for_the_narrowest_scope_that_lists_calendars() -> None:
    purpose = PURPOSES["calendar-choice"]
    assert CALENDARLIST in google_scopes()
    assert purpose.scopes_for("google") == (CALENDARLIST,)
    assert narrowest_google_scopes("calendarList.list") == {CALENDARLIST}
    # Read-only and event-free: the list, one entry, change notifications, colours.
    assert google_methods_allowing(CALENDARLIST) == {
        "calendarList.list",
        "calendarList.get",
        "calendarList.watch",
        "channels.stop",
        "colors.get",
    }
    assert purpose.scopes_for("microsoft") == ("Calendars.ReadBasic",)
    assert purpose.requires == ("room-availability",)


def test_sign_in_asks_only_for_openid_email_and_profile() -> None:
    purpose = PURPOSES["sign-in"]
    for kind in purpose.providers:
        assert purpose.scopes_for(kind) == ("openid", "email", "profile")
    assert not purpose.optional


# -- the lookup API -----------------------------------------------------------------------


def test_required_scopes_leave_out_what_microsoft_never_echoes() -> None:
    purpose = PURPOSES["room-availability"]
    assert purpose.required_scopes("microsoft") == ("Calendars.Read",)
    assert purpose.required_scopes("google") == (EVENTS_FREEBUSY,)
    # a grant under consent version 1 holds calendar.freebusy: still usable (polled)
    assert purpose.is_usable("google", ["openid", FREEBUSY])
    assert purpose.missing_scopes("google", ["openid"]) == (EVENTS_FREEBUSY,)
    # The token response of PROTOCOLS.md §2.2: no offline_access, yet usable.
    granted = ["Calendars.Read", "User.Read", "profile", "openid", "email"]
    assert purpose.is_usable("microsoft", granted)
    assert purpose.missing_scopes("microsoft", ["openid"]) == ("Calendars.Read",)
    # a grant under consent version 2 holds Calendars.ReadBasic: still usable (polled)
    assert purpose.is_usable("microsoft", ["openid", "Calendars.ReadBasic"])


def test_google_long_scope_spellings_count_as_granted() -> None:
    purpose = PURPOSES["sign-in"]
    granted = [
        "openid",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    ]
    assert purpose.is_usable("google", granted)
    assert purpose.missing_scopes("google", ["openid", "email"]) == ("profile",)


def test_unknown_purposes_and_providers_raise_clear_errors() -> None:
    with pytest.raises(UnknownPurpose, match="unknown purpose 'calendar-write'"):
        CATALOGUE.purpose("calendar-write")
    with pytest.raises(KeyError):
        CATALOGUE.purpose("calendar-write")
    with pytest.raises(UnknownCategory):
        CATALOGUE.category("mailbox")
    with pytest.raises(PurposeNotOffered, match="room-availability"):
        PURPOSES["room-availability"].scopes_for("oidc")
    assert issubclass(PurposeNotOffered, CatalogueError)
    assert CATALOGUE.purposes_for("oidc") == (PURPOSES["sign-in"],)


def test_load_catalogue_is_cached() -> None:
    assert load_catalogue() is load_catalogue()


# -- the loader refuses broken catalogues ---------------------------------------------------

TEXT = CATALOGUE_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ('legal_basis = "consent"', 'legal_basis = "vital_interest"', "legal_basis"),
        ('max_age = "PT1H"', 'max_age = "forever"', "max_age"),
        (
            'optional = true\nlegal_basis = "consent"',
            'optional = false\nlegal_basis = "consent"',
            "must be optional",
        ),
        ('version = "1"\nwhat', 'version = ""\nwhat', "must not be empty"),
        ('id = "calendar-choice"', 'id = "room-availability"', "used twice"),
        ('data_categories = ["calendar-list"', 'data_categories = ["mailbox"', "unknown data"),
        (
            'source = "https://learn.microsoft.com/graph/api/subscription-post-subscriptions#permissions"',
            'source = "http://example.com"',
            "https://",
        ),
        ('text = "Kept for one year', 'colour = "red"\ntext = "Kept for one year', "colour"),
        ('proof_after = ["withdrawal", "revocation"]\n', "", "go together"),
        ('until = ["erasure"]\nproof_after', 'until = ["withdrawal"]\nproof_after', "either"),
        # provider kinds are the registry's (connectors/registry.py), not a list of their own
        ('oidc = "Other OpenID', 'yahoo = "Other OpenID', "'yahoo' is not a provider kind"),
        ("[[purposes.scopes.oidc]]", "[[purposes.scopes.gogle]]", "'gogle' is not a provider"),
    ],
)
def test_broken_catalogues_are_refused(old: str, new: str, complaint: str) -> None:
    assert old in TEXT
    with pytest.raises(ValidationError, match=complaint):
        parse_catalogue(TEXT.replace(old, new, 1))


def test_a_retention_without_any_limit_is_refused() -> None:
    broken = TEXT.replace('max_age = "P365D"\n', "", 1)
    with pytest.raises(ValidationError, match="needs max_age, idle or until"):
        parse_catalogue(broken)


def test_durations_are_read_as_timedeltas() -> None:
    assert CATALOGUE.category("busy-times").retention.max_age == timedelta(hours=1)
    assert CATALOGUE.category("session").retention.idle == timedelta(minutes=30)


def test_the_room_availability_text_names_every_kind_of_calendar_it_reads() -> None:
    """A host connecting a CalDAV calendar or an ICS address reads who sees what and how
    to end it for their kind too, not only for Google and Microsoft."""
    consent = PURPOSES["room-availability"].consent
    for words in (consent.recipients, consent.withdraw):
        assert "CalDAV" in words and "ICS address" in words, words
    assert "app password" in consent.withdraw and "secret address" in consent.withdraw
    (provider,) = [r for r in PURPOSES["room-availability"].recipients if "provider" in r.who]
    assert "CalDAV" in provider.who and "ICS" in provider.who

"""What the ICS connector makes of a typed address, and what it remembers of a feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.errors import AuthorizationDenied
from connectors.ics_feed import (
    FeedAddress,
    FeedAnswer,
    FeedMemo,
    Remembered,
    feed_zone,
    parse,
    remember,
    typed_address,
)
from tests.connectors.ics_events import DAY, EXPECTED, FEED, PLANTED_IN_FEED, feed

ADDRESS = "https://calendar.example.org/ical/private-0123456789abcdef/basic.ics"


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        (ADDRESS, ADDRESS),
        (f"  {ADDRESS}  ", ADDRESS),
        (ADDRESS.replace("https://", "webcal://"), ADDRESS),
        (ADDRESS.replace("https://", "WEBCALS://"), ADDRESS),
        (ADDRESS.replace("https://", ""), ADDRESS),
        (ADDRESS + "#fragment", ADDRESS),
        ("http://127.0.0.1:8080/feed.ics", "http://127.0.0.1:8080/feed.ics"),  # the guard decides
    ],
)
def test_a_typed_address_is_read_as_a_feed_url(typed: str, read: str) -> None:
    assert typed_address(typed).url == read


@pytest.mark.parametrize(("typed", "code"), [("", "missing_field"), ("x" * 600, "field_too_long")])
def test_an_unusable_address_is_refused_with_a_message(typed: str, code: str) -> None:
    with pytest.raises(AuthorizationDenied) as refused:
        typed_address(typed)
    assert refused.value.code == code and refused.value.message


def test_the_address_is_never_in_a_repr_and_its_digest_is_stable() -> None:
    address = FeedAddress(ADDRESS)
    assert "private-" not in repr(address) and address.origin == "https://calendar.example.org"
    assert address.digest == FeedAddress(ADDRESS).digest != FeedAddress(ADDRESS + "x").digest


def test_what_is_remembered_is_validators_and_times_only() -> None:
    answer = FeedAnswer(200, FEED.encode(), '"v1"', "Wed, 18 Nov 2026 10:00:00 GMT")
    kept = remember(answer, FeedAddress(ADDRESS), *DAY)
    assert kept.covers(*DAY) and kept.etag == '"v1"' and kept.busy == EXPECTED
    assert not any(text in repr(kept) for text in PLANTED_IN_FEED)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    soon = remember(answer, FeedAddress(ADDRESS), today, today + timedelta(days=1))
    assert soon.covers(today + timedelta(days=30), today + timedelta(days=31))  # from a 304
    assert not kept.covers(today, today + timedelta(days=1))  # a range far from today: alone


def test_the_memory_is_per_grant_per_address_and_bounded() -> None:
    memo = FeedMemo(limit=2)
    entry = Remembered(FeedAddress(ADDRESS).digest, '"v1"', None, DAY, ())
    memo.keep("g1", entry)
    assert memo.get("g1", FeedAddress(ADDRESS)) == entry
    assert memo.get("g1", FeedAddress(ADDRESS + "?other")) is None  # another address
    assert memo.get(None, FeedAddress(ADDRESS)) is None
    assert memo.of_address(FeedAddress(ADDRESS)) == entry
    memo.keep("g2", entry)
    memo.keep("g3", entry)
    assert len(memo) == 2 and memo.get("g1", FeedAddress(ADDRESS)) is None  # oldest gone
    memo.forget("g2")
    assert len(memo) == 1


@pytest.mark.parametrize(
    "body",
    [b"<!doctype html><html></html>", b"", b"BEGIN:VCARD\r\nEND:VCARD\r\n", b"\xff\xfe\x00"],
)
def test_what_is_not_a_calendar_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse(body)


def test_the_feeds_zone_is_its_x_wr_timezone() -> None:
    berlin = parse(feed(header="X-WR-TIMEZONE:Europe/Berlin\r\n").encode())
    assert feed_zone(berlin) == ZoneInfo("Europe/Berlin")
    assert feed_zone(parse(feed(header="X-WR-TIMEZONE:Mars/Olympus\r\n").encode())) == UTC
    assert feed_zone(parse(FEED.encode())) == UTC

"""Scope lists front-coded for Redis (gateway/storage/scope_lists.py, issue 17)."""

from __future__ import annotations

import pytest

from gateway.storage.scope_lists import packed, unpacked

GOOGLE = [
    "https://www.googleapis.com/auth/calendar.events.freebusy",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "openid",
]


def test_scopes_sharing_a_prefix_write_it_once() -> None:
    text = packed(GOOGLE)
    assert text == (
        "https://www.googleapis.com/auth/calendar.events.freebusy 32\\userinfo.email "
        "41\\profile openid"
    )
    assert len(text) < len(" ".join(GOOGLE)) * 0.6
    assert unpacked(text) == GOOGLE


@pytest.mark.parametrize(
    "scopes",
    [
        [],
        ["openid"],
        ["Calendars.Read", "email", "offline_access", "openid", "profile"],
        ["openid", "openid"],  # a repeat is kept
        ["abcd", "abcde", "abc", "abcdef"],
        ["#0", "12", "https://x.example/a", "https://x.example/b"],
        ["12\\z", "https://x.example/a", "https://x.example/a\\b", "0\\"],  # not valid scopes
    ],
)
def test_any_list_reads_back_as_written(scopes: list[str]) -> None:
    assert unpacked(packed(scopes)) == scopes


def test_a_list_written_before_reads_as_it_is() -> None:
    assert unpacked(" ".join(GOOGLE)) == GOOGLE
    assert unpacked("") == []

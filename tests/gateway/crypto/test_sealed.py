"""Sealed values the browser carries (flow cookie, form_post answer): only this gateway, for
this purpose, until the expiry, reads them."""

from __future__ import annotations

import time

import pytest

import gateway.crypto.sealed as sealed_module
from gateway.crypto.sealed import SealedBox

SECRET = "s" * 48


def test_a_sealed_value_opens_once_here_and_shows_nothing() -> None:
    box = SealedBox(SECRET, "sign-in flows")
    token = box.seal([{"code_verifier": "verifier-123", "nonce": "n-456"}], 60)
    assert box.open(token) == [{"code_verifier": "verifier-123", "nonce": "n-456"}]
    assert "verifier" not in token and "n-456" not in token
    assert token != box.seal([{"code_verifier": "verifier-123", "nonce": "n-456"}], 60)


def test_another_purpose_or_secret_does_not_open_it() -> None:
    token = SealedBox(SECRET, "sign-in flows").seal({"v": 1}, 60)
    assert SealedBox(SECRET, "form_post response").open(token) is None
    assert SealedBox("t" * 48, "sign-in flows").open(token) is None


@pytest.mark.parametrize(
    "altered",
    [
        lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),
        lambda t: t[:20],
        lambda t: "",
        lambda t: "not base64 at all!",
        lambda t: "é" + t,
        lambda t: t + "A" * 9000,
    ],
)
def test_an_altered_value_does_not_open(altered: object) -> None:
    box = SealedBox(SECRET, "sign-in flows")
    token = box.seal({"v": 1}, 60)
    assert callable(altered)
    assert box.open(altered(token)) is None


def test_an_expired_value_does_not_open(monkeypatch: pytest.MonkeyPatch) -> None:
    box = SealedBox(SECRET, "sign-in flows")
    token = box.seal({"v": 1}, 60)

    class Later:
        @staticmethod
        def time() -> float:
            return time.time() + 61

    monkeypatch.setattr(sealed_module, "time", Later)
    assert box.open(token) is None

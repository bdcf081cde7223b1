"""What the admin page tests share: Bob is the admin, Alice a member, and a page's parts."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

ALICE, BOB = "alice@example.com", "bob@example.com"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], emulator: Any) -> dict[str, str]:
    """The shared settings, with Bob (by his stable emulator subject) as the admin."""
    subject = next(a["subject"] for a in emulator.client.accounts() if a["email"] == BOB)
    return {**gateway_env, "GATEWAY_ADMINS": f"google:{subject}"}


@pytest.fixture
def bob(sign_in: Any, client: FlaskClient) -> str:
    """Bob, the admin, signed in with the `client` fixture; his user id."""
    sign_in.complete("google", BOB)
    return str(client.get("/v1/me").get_json()["id"])


@pytest.fixture
def alice(another_browser: Any) -> tuple[FlaskClient, str]:
    """Alice, a member who is no admin, in her own browser: (its client, her user id)."""
    browser = another_browser()
    browser.complete("google", ALICE)
    return browser.client, str(browser.client.get("/v1/me").get_json()["id"])


def csrf_token(client: FlaskClient) -> str:
    found = TOKEN.search(client.get("/account").get_data(as_text=True))
    assert found, "no CSRF token on the account page"
    return found.group(1)


def text_of(response: Any) -> str:
    return str(response.get_data(as_text=True))


def element(page: str, element_id: str) -> str:
    """The markup of the element with this id, up to its closing tag (no nesting of the
    same tag inside), entities decoded."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"no element #{element_id}"
    return unescape(found.group(2))


def row_ids(page: str, prefix: str) -> list[str]:
    """The ids of the table rows `<tr id="prefix-...">`, in order, without the prefix."""
    return re.findall(rf'<tr id="{re.escape(prefix)}-([^"]+)"', page)


def services_of(app: Flask) -> Any:
    return app.extensions["gateway"]


def href_of(page: str, element_id: str) -> str | None:
    """The href of the link with this id, or None when the page has no such link."""
    found = re.search(rf'<a [^>]*\bid="{re.escape(element_id)}"[^>]*>', page)
    if not found:
        return None
    target = re.search(r'href="([^"]*)"', found.group(0))
    return unescape(target.group(1)) if target else None

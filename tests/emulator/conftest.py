"""One emulator over real HTTPS for this folder, reset before each test, and a tiny browser."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from emulator import RunningEmulator, start_emulator

CALLBACK = "http://127.0.0.1:8000/auth/callback"


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(ca_path=tmp_path_factory.mktemp("emu") / "ca.pem") as server:
        yield server


@pytest.fixture
def emu(running: RunningEmulator) -> RunningEmulator:
    running.client.reset()
    return running


class Browser:
    """What a browser does at the provider: HTTPS trusting the emulator's CA, no redirects."""

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator
        self.http = requests.Session()
        self.http.verify = str(emulator.ca_path)
        self.http.trust_env = False

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=10, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.post(url, allow_redirects=False, timeout=10, **kwargs)

    def answer(self, url: str) -> dict[str, str]:
        """Open an authorization URL and return what comes back to the client."""
        return answer_of(self.get(url))

    def json(self, path: str) -> Any:
        response = self.get(self.emulator.url + path)
        assert response.status_code == 200, response.text
        return response.json()

    @staticmethod
    def pkce() -> tuple[str, str]:
        return pkce_pair()

    @staticmethod
    def page(html: str) -> Page:
        return Page(html)

    @staticmethod
    def answer_of(response: requests.Response) -> dict[str, str]:
        return answer_of(response)


@pytest.fixture
def browser(running: RunningEmulator) -> Iterator[Browser]:
    driver = Browser(running)
    yield driver
    driver.http.close()


class Page(HTMLParser):
    """The first form of a page: its action and named inputs (all values of each name)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.inputs: list[dict[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = found.get("action")
        elif tag in ("input", "button") and found.get("name"):
            self.inputs.append(found)

    def fields(self) -> dict[str, str]:
        return {
            str(i["name"]): i.get("value") or "" for i in self.inputs if i.get("type") != "checkbox"
        }


def answer_of(response: requests.Response) -> dict[str, str]:
    """The parameters the provider sends back: a redirect's query or a form_post's fields."""
    if response.status_code in (302, 303):
        query = urlsplit(response.headers["Location"]).query
        return {k: v[0] for k, v in parse_qs(query).items()}
    assert response.status_code == 200, response.text
    page = Page(response.text)
    assert page.action and page.action.startswith(CALLBACK), page.action
    return {str(i["name"]): str(i.get("value") or "") for i in page.inputs}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A real HTTP server on loopback that records the notifications it is sent."""
    from tests.emulator.push_helpers import Receiver  # it imports this module

    server = Receiver()
    yield server
    server.stop()

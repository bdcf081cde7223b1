"""Provider calls go through HTTPS_PROXY when it is set (NO_PROXY exempting hosts), and
direct when it is not; REQUESTS_CA_BUNDLE still never replaces the configured CA bundle."""

from __future__ import annotations

from collections.abc import Iterator

import httplib2
import pytest
import requests

from connectors.http import BoundedHttp, ProviderSession
from tests.connectors.fanout_servers import FirstLine, refusing_proxy

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with refusing_proxy() as url:
        yield url


def test_https_proxy_carries_the_provider_calls_when_set(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")  # still ignored

    with pytest.raises(requests.exceptions.ProxyError):
        ProviderSession().get("https://login.provider.invalid/token")
    with pytest.raises((httplib2.HttpLib2Error, OSError)):
        BoundedHttp().request("https://www.provider.invalid/calendar")

    assert [line.split(" ")[:2] for line in FirstLine.seen] == [
        ["CONNECT", "login.provider.invalid:443"],
        ["CONNECT", "www.provider.invalid:443"],
    ]


def test_no_proxy_exempts_a_host_and_no_variable_means_direct(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = proxy + "/direct"  # the recorder itself, reached directly: origin-form line
    ProviderSession().get(target)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    ProviderSession().get(target)
    monkeypatch.delenv("NO_PROXY")
    ProviderSession().get("http://provider.invalid/through")

    assert FirstLine.seen == [
        "GET /direct HTTP/1.1",
        "GET /direct HTTP/1.1",
        "GET http://provider.invalid/through HTTP/1.1",
    ]


def test_a_proxy_set_after_calls_to_a_host_is_used_for_the_next_call_to_it(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy lookup is kept per host (it walks the environment), but only for as long
    as the proxy variables say the same."""
    target = proxy + "/direct"  # the recorder itself: direct (origin-form) or proxied
    for _ in range(2):
        ProviderSession().get(target)
    monkeypatch.setenv("http_proxy", proxy)
    ProviderSession().get(target)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    ProviderSession().get(target)

    assert FirstLine.seen == [
        "GET /direct HTTP/1.1",
        "GET /direct HTTP/1.1",
        f"GET {target} HTTP/1.1",
        "GET /direct HTTP/1.1",
    ]


def test_member_typed_addresses_tunnel_to_the_checked_address(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a proxy, the outbound guard's pin holds: CONNECT names the address it
    checked, so the proxy does not resolve the name again (connectors/outbound.py)."""
    from connectors.errors import ProviderUnavailable
    from connectors.outbound import guarded_session

    monkeypatch.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(ProviderUnavailable):
        guarded_session("localhost").get("https://localhost:8443/dav/")
    assert [line.split(" ")[:2] for line in FirstLine.seen] in (
        [["CONNECT", "127.0.0.1:8443"]],
        [["CONNECT", "[::1]:8443"]],
    )

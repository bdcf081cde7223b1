"""The SSRF guard for member-typed addresses, with real sockets on loopback."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import trustme

from connectors import outbound
from connectors.errors import ProviderUnavailable
from connectors.outbound import GuardedSession, guarded_session
from connectors.outbound_guard import AddressRefused, Allowlist, OutboundGuard
from tests.connectors.outbound_servers import answer, drip, serve


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_loopback_is_refused_without_the_allowlist(ca: trustme.CA, ca_file: str) -> None:
    with serve(answer(body=b"secret intranet"), ca=ca) as (port, seen):
        session = guarded_session("", ca_file)
        with pytest.raises(AddressRefused):
            session.get(f"https://127.0.0.1:{port}/")
        with pytest.raises(AddressRefused):
            session.get(f"https://localhost:{port}/")
        assert seen.requests == []  # refused before any connection
        allowed = guarded_session("127.0.0.1/32", ca_file)
        assert allowed.get(f"https://127.0.0.1:{port}/").text == "secret intranet"


def test_plain_http_only_to_an_allowed_loopback() -> None:
    with serve(answer(body=b"plain")) as (port, _seen):
        with pytest.raises(AddressRefused):
            guarded_session("").get(f"http://127.0.0.1:{port}/")
        assert guarded_session("127.0.0.1").get(f"http://127.0.0.1:{port}/").text == "plain"
    with pytest.raises(AddressRefused):  # allowed, but not loopback: http is refused
        guarded_session("192.0.2.0/24").get("http://192.0.2.1/")


def test_a_redirect_is_checked_again(ca: trustme.CA, ca_file: str) -> None:
    with serve(answer(body=b"inner"), host="127.0.0.2", ca=ca, names=("127.0.0.2",)) as (
        inner,
        inner_seen,
    ):
        target = f"https://127.0.0.2:{inner}/"
        with serve(answer(301, b"", {"Location": target}), ca=ca) as (port, seen):
            session = guarded_session("127.0.0.1/32", ca_file)
            with pytest.raises(AddressRefused):
                session.get(f"https://127.0.0.1:{port}/.well-known/caldav")
            assert len(seen.requests) == 1 and inner_seen.requests == []
            both = guarded_session("127.0.0.1/32,127.0.0.2/32", ca_file)
            assert both.get(f"https://127.0.0.1:{port}/.well-known/caldav").text == "inner"


def test_redirects_are_capped(ca: trustme.CA, ca_file: str) -> None:
    with serve(answer(302, b"", {"Location": "/again"}), ca=ca) as (port, seen):
        with pytest.raises(ProviderUnavailable, match="redirected too often"):
            guarded_session("127.0.0.1", ca_file).get(f"https://127.0.0.1:{port}/")
        assert len(seen.requests) == outbound.MAX_REDIRECTS + 1


def test_a_redirect_to_another_origin_drops_the_credentials(ca: trustme.CA, ca_file: str) -> None:
    headers: list[str | None] = []

    def record(request: Any) -> None:
        headers.append(request.headers.get("Authorization"))
        answer(body=b"there")(request)

    with serve(record, host="127.0.0.2", ca=ca, names=("127.0.0.2",)) as (inner, _):
        moved = answer(307, b"", {"Location": f"https://127.0.0.2:{inner}/x"})
        with serve(moved, ca=ca) as (port, _seen):
            session = guarded_session("127.0.0.0/8", ca_file)
            assert session.get(f"https://127.0.0.1:{port}/", auth=("u", "pw")).text == "there"
    assert headers == [None]


def test_answers_are_capped_in_size(ca: trustme.CA, ca_file: str) -> None:
    big = b"x" * (outbound.MAX_RESPONSE_BYTES + 1)
    with (
        serve(answer(body=big), ca=ca) as (port, _seen),
        pytest.raises(ProviderUnavailable, match="too large"),
    ):
        guarded_session("127.0.0.1", ca_file).get(f"https://127.0.0.1:{port}/")


def test_a_session_may_take_more_or_less_than_the_default_size(
    ca: trustme.CA, ca_file: str
) -> None:
    """An ICS feed is bigger than a CalDAV answer: a session sets its own cap."""
    body = b"x" * (outbound.MAX_RESPONSE_BYTES + 1)
    guard = OutboundGuard(Allowlist.parse("127.0.0.1"))
    with serve(answer(body=body), ca=ca) as (port, _seen):
        roomy = GuardedSession(guard, ca_file, max_bytes=len(body))
        assert roomy.get(f"https://127.0.0.1:{port}/").content == body
        tight = GuardedSession(guard, ca_file, max_bytes=1024)
        with pytest.raises(ProviderUnavailable) as refused:
            tight.get(f"https://127.0.0.1:{port}/")
        assert refused.value.code == "too_large"


def test_a_dripping_server_is_cut_off_at_the_total_time(ca: trustme.CA, ca_file: str) -> None:
    with serve(drip(seconds=30.0), ca=ca) as (port, _seen):
        session = guarded_session("127.0.0.1", ca_file)
        session.total_seconds = 0.5
        with pytest.raises(ProviderUnavailable, match="too long"):
            session.get(f"https://127.0.0.1:{port}/")


def test_the_checked_address_is_pinned_no_second_lookup(
    ca: trustme.CA, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the first answer is checked, a second would point inside. The
    connection goes to the checked address, TLS verifies the name, Host keeps it."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.255.255.1"])
    asked: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "calendar.rebind.test":
            asked.append(host)
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with serve(answer(body=b"pinned"), ca=ca, names=("calendar.rebind.test",)) as (port, seen):
        session = guarded_session("127.0.0.1/32", ca_file)
        url = f"https://calendar.rebind.test:{port}/dav/"
        assert session.get(url).text == "pinned"
        assert len(asked) == 1  # the guard's lookup; the connection made none of its own
        with pytest.raises(AddressRefused):  # the next request is checked again
            session.get(url)
    assert len(asked) == 2
    assert seen.requests[0] == ("/dav/", f"calendar.rebind.test:{port}")


def test_a_certificate_for_another_name_is_refused(ca: trustme.CA, ca_file: str) -> None:
    with (
        serve(answer(), ca=ca, names=("other.example",)) as (port, _seen),
        pytest.raises(ProviderUnavailable),
    ):
        guarded_session("127.0.0.1", ca_file).get(f"https://127.0.0.1:{port}/")

"""Connection health: a grant the provider ended while rooms were bound to it is shown to
its host and admins, its host is e-mailed once through a real SMTP server (STARTTLS with a
password, or implicit TLS), and rarely used grants are refreshed before they can expire."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway.config import ConfigError, Settings
from gateway.services.connection_health import KEEP_ALIVE_AFTER_SECONDS
from gateway.services.mailer import Mailer
from tests.hosts import PLANTED, Hosts
from tests.smtp import PASSWORD, Inbox, smtp_server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[str, Inbox, Path]]:
    with smtp_server(tmp_path) as found:
        yield found


@pytest.fixture
def mailing_app(
    smtp: tuple[str, Inbox, Path],
    emulator: Any,
    make_env: Callable[..., dict[str, str]],
    build_gateway: Callable[[dict[str, str]], Flask],
    tmp_path: Path,
) -> Flask:
    """The gateway with GATEWAY_SMTP_URL, trusting both the emulator's and the SMTP CA."""
    url, _, smtp_ca = smtp
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(emulator.ca_path).read_bytes() + smtp_ca.read_bytes())
    return build_gateway(
        make_env(
            GATEWAY_SMTP_URL=url,
            GATEWAY_SMTP_FROM="rooms@gateway.example",
            GATEWAY_CA_BUNDLE=str(bundle),
        )
    )


@pytest.fixture
def hosts(mailing_app: Flask, emulator: Any, another_browser: Any) -> Hosts:
    from tests.conftest import SignIn

    return Hosts(mailing_app, SignIn(mailing_app.test_client(), emulator), another_browser)


@pytest.fixture
def another_browser(mailing_app: Flask, emulator: Any) -> Callable[[], Any]:
    from tests.conftest import SignIn

    return lambda: SignIn(mailing_app.test_client(), emulator)


def test_starttls_with_a_password_delivers(smtp: tuple[str, Inbox, Path]) -> None:
    url, inbox, ca = smtp
    assert Mailer(url, "rooms@gateway.example", str(ca)).send("a@example.com", "Hi", "Body")
    [message] = inbox.wait()
    assert message["To"] == "a@example.com" and message["Subject"] == "Hi"


def test_implicit_tls_delivers(tmp_path: Path) -> None:
    with smtp_server(tmp_path, implicit_tls=True) as (url, inbox, ca):
        assert url.startswith("smtps://")
        assert Mailer(url, "rooms@gateway.example", str(ca)).send("b@example.com", "S", "B")
        assert len(inbox.wait()) == 1


def test_a_refused_login_or_an_untrusted_server_is_one_line_without_the_password(
    smtp: tuple[str, Inbox, Path], caplog: pytest.LogCaptureFixture
) -> None:
    url, inbox, ca = smtp
    caplog.set_level(logging.WARNING, "gateway")
    wrong = url.replace(PASSWORD, "not-the-password")
    assert not Mailer(wrong, "rooms@gateway.example", str(ca)).send("a@example.com", "S", "B")
    assert not Mailer(url, "rooms@gateway.example", None).send("a@example.com", "S", "B")
    assert inbox.messages == []
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.services.mailer"]
    assert len(lines) == 2
    assert all("[redacted]@127.0.0.1" in line for line in lines)
    assert not any(PASSWORD in line or "not-the-password" in line for line in lines)


@pytest.mark.parametrize(
    "raw", ["http://mail.example", "smtp://", "smtp://mail.example:99999", "smtp://h/path"]
)
def test_a_malformed_smtp_url_stops_start_up(
    raw: str, make_env: Callable[..., dict[str, str]]
) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_SMTP_URL"):
        Settings.from_env(make_env(GATEWAY_SMTP_URL=raw))


def test_a_grant_the_provider_ended_is_shown_and_mailed_once(
    mailing_app: Flask, hosts: Hosts, smtp: tuple[str, Inbox, Path]
) -> None:
    _, inbox, _ = smtp
    uid, gid, room = hosts.hosted_room("google", "atlas")
    hosts.event("alice@example.com", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    hosts.emulator.client.fault("google.freebusy", status=401, times=-1)
    hosts.emulator.client.fault("google.token", error="invalid_grant", times=-1)

    assert hosts.status(room) == "needs_reconnect"
    for _ in range(3):  # asked again and again: still one e-mail
        hosts.services.freebusy.forget_grant(uid, gid)
        assert hosts.status(room) == "needs_reconnect"
    [message] = inbox.wait()
    time.sleep(0.5)
    assert len(inbox.messages) == 1
    body = message.get_content()
    assert message["To"] == "alice@example.com"
    assert message["From"] == "rooms@gateway.example"
    assert "Atlas" in message["Subject"] and "Atlas" in body
    assert "no longer accepts this grant" in body
    assert "http://127.0.0.1:8000/account" in body
    for planted in PLANTED:
        assert planted not in message.as_string()

    page = hosts.browsers[uid].client.get("/rooms").get_data(as_text=True)
    assert 'id="reconnect-banner"' in page and "Atlas" in page
    account = hosts.browsers[uid].client.get("/account").get_data(as_text=True)
    assert f'id="reconnect-{gid}"' in account
    [broken] = hosts.services.health.broken_rooms()
    assert (broken.room.id, broken.host, broken.status) == ("atlas", uid, "revoked")


def test_a_grant_the_owner_disconnects_is_not_mailed(
    mailing_app: Flask, hosts: Hosts, smtp: tuple[str, Inbox, Path]
) -> None:
    _, inbox, _ = smtp
    uid, gid, _ = hosts.hosted_room("google", "atlas")
    hosts.services.consent.disconnect(uid, gid)
    assert hosts.services.health.needing_reconnect(uid) == []
    assert hosts.services.health.broken_rooms() == []
    time.sleep(0.5)
    assert inbox.messages == []


def test_rarely_used_grants_are_refreshed_ahead_without_counting_as_use(
    mailing_app: Flask, hosts: Hosts
) -> None:
    uid, gid = hosts.host("microsoft")
    health, grants = hosts.services.health, hosts.services.grants
    before = grants.get(uid, gid)
    calls = hosts.calls("microsoft.token")
    assert health.keep_alive() == 0  # refreshed just now: nothing to do
    assert hosts.calls("microsoft.token") == calls

    later = time.time() + KEEP_ALIVE_AFTER_SECONDS + 60
    assert health.keep_alive(now=later) == 1
    assert hosts.calls("microsoft.token") == calls + 1
    after = grants.get(uid, gid)
    assert after.status == "active"
    assert after.last_refreshed > before.last_refreshed
    assert after.last_used == before.last_used  # not a use: retention still sees it idle
    assert grants.access_token(uid, gid)  # the refreshed tokens work

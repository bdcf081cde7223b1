"""A real SMTP server for the tests (aiosmtpd), speaking STARTTLS or implicit TLS with a
trustme certificate, with a password, keeping every message it accepts."""

from __future__ import annotations

import email
import email.policy
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.redis_cluster import free_port

USER, PASSWORD = "gateway-mailer", "Sm7p-Pl4nted-Passw0rd"  # pragma: allowlist secret


class Inbox:
    """The aiosmtpd handler: what arrived, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def wait(self, count: int = 1, seconds: float = 15.0) -> list[EmailMessage]:
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


class ImplicitTlsController(Controller):
    """smtps://: TLS from the first byte."""

    def __init__(self, handler: Any, context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(handler, ssl_context=context, **kwargs)


@contextmanager
def smtp_server(folder: Path, *, implicit_tls: bool = False) -> Iterator[tuple[str, Inbox, Path]]:
    """(GATEWAY_SMTP_URL, inbox, CA PEM to trust) of a running server on loopback."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_path = folder / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    inbox = Inbox()
    port = free_port()
    common = {"hostname": "127.0.0.1", "port": port, "authenticator": _authenticate}
    if implicit_tls:
        controller: Controller = ImplicitTlsController(
            inbox, context, auth_require_tls=False, **common
        )
    else:
        controller = Controller(
            inbox, tls_context=context, require_starttls=True, auth_required=True, **common
        )
    controller.start()
    scheme = "smtps" if implicit_tls else "smtp"
    try:
        yield f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}", inbox, ca_path
    finally:
        controller.stop()

"""E-mail through the configured SMTP server (GATEWAY_SMTP_URL), over TLS only.

`smtp://{user}:{password}@host:port` upgrades with STARTTLS before anything else is said (port
587 by default) and `smtps://` starts in TLS (465); the server's certificate is checked
against GATEWAY_CA_BUNDLE or the system CAs. Credentials never travel in the clear, and the
URL is only ever logged redacted.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from gateway.log_redaction import redact_url

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15.0


class Mailer:
    def __init__(self, url: str, sender: str, ca_bundle: str | None = None) -> None:
        self.url = url
        self.sender = sender
        self.ca_bundle = ca_bundle

    def send(self, to: str, subject: str, body: str) -> bool:
        """Send one plain-text message; False (and one log line) when it could not go."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        parts = urlsplit(self.url)
        context = ssl.create_default_context(cafile=self.ca_bundle)
        host = parts.hostname or ""
        try:
            if parts.scheme == "smtps":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, parts.port or 465, timeout=TIMEOUT_SECONDS, context=context
                )
            else:
                smtp = smtplib.SMTP(host, parts.port or 587, timeout=TIMEOUT_SECONDS)
            with smtp:
                if parts.scheme == "smtp":
                    smtp.starttls(context=context)  # refuses to go on without it
                if parts.username:
                    smtp.login(unquote(parts.username), unquote(parts.password or ""))
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            log.warning(
                "e-mail not sent through %s (%s)", redact_url(self.url), type(error).__name__
            )
            return False
        return True

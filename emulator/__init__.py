"""A protocol-faithful local emulator of Google, Microsoft and a generic OIDC provider.

It serves HTTPS (MSAL insists) with a throw-away CA, so the gateway's real clients
(Authlib, MSAL, requests) talk to it exactly as they talk to the providers. Steer it through
the JSON control API under /_emulator/ or `EmulatorClient`. See server.py to start it,
control.py (and control_*.py) for the control API, and PROTOCOLS.md for the facts it follows.
"""

from emulator.client import EmulatorClient, EmulatorError, read_form_post
from emulator.google import GOOGLE_ISSUER
from emulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_CLIENTS,
    RunningEmulator,
    start_emulator,
)


def google_issuer(url: str) -> str:
    """The Google side's issuer for an emulator at `url` (unless started with another)."""
    return url.rstrip("/")


__all__ = [
    "DEFAULT_CLIENTS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "GOOGLE_ISSUER",
    "EmulatorClient",
    "EmulatorError",
    "RunningEmulator",
    "google_issuer",
    "read_form_post",
    "start_emulator",
]

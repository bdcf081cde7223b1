"""Consent gateway: sign-in, granular consent, encrypted tokens, free/busy of rooms."""

from gateway.app import create_app

__all__ = ["create_app"]

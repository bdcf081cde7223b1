"""A secret given now, or a way to fetch it on first use.

The secrets that outlive a GATEWAY_SECRET_KEY rotation live in Redis (storage/stable_secrets.py),
and the gateway starts while Redis is down: so the stores keyed by them take a source and read
it only when first asked for a key.
"""

from __future__ import annotations

from collections.abc import Callable

SecretSource = str | Callable[[], str]


def reveal(source: SecretSource) -> str:
    return source if isinstance(source, str) else source()

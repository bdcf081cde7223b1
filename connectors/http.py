"""Outgoing HTTP for every connector: one CA bundle, bounded timeouts, no redirects.

`trust_env` is off so that `REQUESTS_CA_BUNDLE` cannot silently replace the configured CA
bundle (requests merges environment settings over `Session.verify`, which MSAL relies on).
"""

from __future__ import annotations

from typing import Any

import requests

from connectors.errors import ProviderUnavailable

# (connect, read) seconds: well under a gunicorn worker timeout (SECURITY.md T19).
DEFAULT_TIMEOUT = (3.0, 10.0)


class ProviderSession(requests.Session):
    """A requests session that always has a timeout and never follows redirects."""

    def __init__(
        self,
        ca_bundle: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        pool_size: int = 10,
    ):
        super().__init__()
        if pool_size != 10:  # free/busy fans out to many grants at once: keep connections
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
            self.mount("https://", adapter)
            self.mount("http://", adapter)
        self.trust_env = False
        self.verify = ca_bundle or True
        self.max_redirects = 0
        self.default_timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)


def get_json(session: requests.Session, url: str) -> dict[str, Any]:
    """GET a JSON object, turning every failure into `ProviderUnavailable`."""
    try:
        response = session.get(url)
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"could not read {url}: {type(error).__name__}") from error
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"{url} did not answer with a JSON object")
    return body

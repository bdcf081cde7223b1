"""A browser's part of the gateway's flows, over real HTTP: sign-in, consent, binding a room.

Two cookie jars, as a browser keeps them apart by origin: one for the gateway, one for the
emulator (requests' jar ignores ports, and both listen on 127.0.0.1). Also the bare
provider round trip (authorize + token, no gateway) that the sign-in benchmark compares with.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, read_form_post

# The emulator's authorize and token endpoints, as the gateway's connectors find them.
PROVIDER_PATHS = {
    "google": ("/o/oauth2/v2/auth", "/token"),
    "microsoft": ("/organizations/oauth2/v2.0/authorize", "/organizations/oauth2/v2.0/token"),
}
SIGN_IN_SCOPES = {"google": "openid email profile", "microsoft": "openid profile email"}
TENANT = "11111111-1111-4111-8111-111111111111"


def _session(verify: str | bool = True) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    http.verify = verify
    return http


def new_account(emulator: Any, provider: str, name: str) -> str:
    """Add a test account at the emulator; its e-mail address."""
    domain = "example.com" if provider == "google" else "contoso.example"
    email = f"{name}-{secrets.token_hex(4)}@{domain}"
    extra = {"tenant": TENANT} if provider == "microsoft" else {}
    emulator.client.add_account(email, name, provider, **extra)
    return email


class Browser:
    """One person's browser, talking to the gateway at `url` and to the emulator."""

    def __init__(self, url: str, emulator: Any) -> None:
        self.url = url
        self.emulator = emulator
        self.gateway = _session()
        self.provider = _session(str(emulator.ca_path))

    def close(self) -> None:
        self.gateway.close()
        self.provider.close()

    def _expect(self, response: requests.Response, *status: int) -> requests.Response:
        if response.status_code not in status:
            raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code}")
        return response

    def _through_provider(self, authorize_url: str) -> requests.Response:
        """Follow the provider's answer back to the gateway, as a browser would."""
        answer = self.provider.get(authorize_url, allow_redirects=False, timeout=30)
        if answer.status_code in (302, 303):
            back = self._expect(
                self.gateway.get(answer.headers["Location"], allow_redirects=False, timeout=30),
                303,
            )
        else:
            action, fields = read_form_post(self._expect(answer, 200).text)
            if not action:
                raise RuntimeError("the provider's answer has no form")
            parked = self.gateway.post(action, data=fields, allow_redirects=False, timeout=30)
            back = self._expect(
                self.gateway.get(
                    urljoin(self.url, self._expect(parked, 303).headers["Location"]),
                    allow_redirects=False,
                    timeout=30,
                ),
                303,
            )
        return back

    def sign_in(self, provider: str, account: str) -> str:
        """The whole round trip: login, provider, callback, and the session in use. The
        emulator is told whom to sign in first (a control call, outside what a user waits
        for: call `emulator.client.authorize_next` yourself to keep it out of a timing)."""
        started = self._expect(
            self.gateway.get(f"{self.url}/auth/login/{provider}", allow_redirects=False), 302
        )
        self._through_provider(started.headers["Location"])
        me = self._expect(self.gateway.get(f"{self.url}/v1/me", timeout=30), 200)
        return str(me.json()["id"])

    def _csrf(self, path: str) -> str:
        page = self._expect(self.gateway.get(f"{self.url}{path}", timeout=30), 200).text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if not found:
            raise RuntimeError(f"no CSRF token on {path}")
        return found.group(1)

    def consent(self, purpose: str, provider: str, account: str) -> None:
        """Accept `purpose` on the gateway's page, then at the provider (incremental)."""
        token = self._csrf(f"/consent/{purpose}?provider={provider}")
        started = self._expect(
            self.gateway.post(
                f"{self.url}/consent/{purpose}",
                data={"provider": provider, "csrf_token": token},
                allow_redirects=False,
                timeout=30,
            ),
            303,
        )
        self.emulator.client.authorize_next(account)
        self._through_provider(started.headers["Location"])

    def bind(self, room_id: str, grant_id: str, calendar: str = "primary") -> None:
        """Bind one calendar of the signed-in host's grant to a room they host."""
        token = self._csrf("/rooms/connect")
        self._expect(
            self.gateway.post(
                f"{self.url}/rooms/{room_id}/bind",
                data={"csrf_token": token, "grant": grant_id, "calendar": calendar},
                allow_redirects=False,
                timeout=30,
            ),
            303,
        )


def bare_provider_round_trip(http: requests.Session, emulator: Any, provider: str) -> None:
    """Authorize + token at the emulator with nothing around them (PKCE, state, nonce, the
    gateway's registered redirect URI): the part of a sign-in no gateway can avoid.
    Queue the account with `authorize_next` first."""
    authorize_path, token_path = PROVIDER_PATHS[provider]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect_uri = _registered_redirect_uri(emulator, provider)
    query = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": SIGN_IN_SCOPES[provider],
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    if provider == "microsoft":
        query["response_mode"] = "form_post"
    answer = http.get(
        f"{emulator.url}{authorize_path}?{urlencode(query)}", allow_redirects=False, timeout=30
    )
    if answer.status_code in (302, 303):
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    else:
        code = read_form_post(answer.text)[1]["code"]
    token = http.post(
        f"{emulator.url}{token_path}",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "code_verifier": verifier,
        },
        timeout=30,
    )
    if token.status_code != 200 or "id_token" not in token.json():
        raise RuntimeError(f"token endpoint: {token.status_code} {token.text[:200]}")


def _registered_redirect_uri(emulator: Any, provider: str) -> str:
    own_process = getattr(emulator, "redirect_uris", None)  # bench.stack.EmulatorProcess
    uris = own_process or emulator.state.clients[DEFAULT_CLIENT_ID].redirect_uris
    return next(uri for uri in uris if uri.endswith(f"/callback/{provider}"))

"""For the push tests: a real HTTP receiver on loopback, access tokens, the Google client.

The receiver is a werkzeug server in a thread that records every POST it gets and answers
as a gateway would (202 to notifications, the validation token echoed as text/plain), or
wrongly, slowly or with an error when a test says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import google_auth_httplib2
import httplib2
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.emulator.conftest import answer_of

CALLBACK = "http://127.0.0.1:8000/auth/callback/"
GOOGLE_SCOPE = "https://www.googleapis.com/auth/"


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw_query: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records POSTs to http://127.0.0.1:{port}/...; `validation` is how it answers Graph's
    handshake: "echo" (right), "wrong" (another token), "json" (not text/plain)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.status = 202
        self.validation = "echo"
        self.delay = 0.0
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hooks/notify") -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    def app(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        seen = Received(
            request.path,
            request.args.to_dict(),
            dict(request.headers),
            request.get_data(),
            environ.get("QUERY_STRING", ""),
        )
        with self.lock:
            self.received.append(seen)
        time.sleep(self.delay)
        token = request.args.get("validationToken")
        if token is None:
            return Response(status=self.status)(environ, start_response)
        if self.validation == "wrong":
            return Response("not-the-token", mimetype="text/plain")(environ, start_response)
        if self.validation == "json":
            return Response(json.dumps(token), mimetype="application/json")(environ, start_response)
        return Response(token, mimetype="text/plain")(environ, start_response)

    def posts(self, path: str | None = None, validations: bool = False) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.received
                if path in (None, r.path) and ("validationToken" in r.query) == validations
            ]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.posts(path)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"wanted {count} notifications, got {len(self.posts(path))}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def access_token(emulator: Any, provider: str, account: str, scopes: list[str]) -> str:
    """Sign `account` in at the emulator's `provider` (google or microsoft) with `scopes`,
    through the authorization endpoint and the token endpoint, as the gateway does."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": CALLBACK + provider,
        "response_type": "code",
        "scope": " ".join(["openid", *scopes]),
        "state": "s",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    base = emulator.url if provider == "google" else f"{emulator.url}/organizations"
    authorize = "/o/oauth2/v2/auth" if provider == "google" else "/oauth2/v2.0/authorize"
    token_path = "/token" if provider == "google" else "/oauth2/v2.0/token"
    http = requests.Session()
    http.verify = str(emulator.ca_path)
    http.trust_env = False
    with http:
        emulator.client.authorize_next(account)
        answer = answer_of(http.get(base + authorize, params=params, allow_redirects=False))
        response = http.post(
            base + token_path,
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": CALLBACK + provider,
                "code_verifier": verifier,
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "scope": params["scope"],
            },
            timeout=10,
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def google_calendar(emulator: Any, token: str) -> Any:
    """google-api-python-client's calendar v3 against the emulator, over verified HTTPS."""
    http = google_auth_httplib2.AuthorizedHttp(
        Credentials(token=token), http=httplib2.Http(ca_certs=str(emulator.ca_path), timeout=10)
    )
    return build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": f"{emulator.url}/calendar/v3/"},
    )


def graph(emulator: Any, token: str) -> requests.Session:
    """A session that calls the emulator's Graph with `token`, as the connector's requests do."""
    http = requests.Session()
    http.verify = str(emulator.ca_path)
    http.trust_env = False
    http.headers["Authorization"] = f"Bearer {token}"
    return http

"""T10 / ASVS 5.0 10.5.1 (and 10.1.2), RFC 9700 §4.5.3.2: an ID token is bound to the one
transaction whose nonce it carries.

test_auth.py checks a token whose nonce the emulator altered. Here a genuine ID token
(right signature, issuer, audience and lifetime) accepted in flow A is replayed as the
token-endpoint answer of flow B: B must be refused and sign nobody in. The token is
captured and substituted at the connectors' one validation call, so everything before and
after it is the real code path."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

import connectors.microsoft
import connectors.oidc
from connectors.id_token import validate_id_token
from tests.security.support import GENERIC_ACCOUNT, GOOGLE_ACCOUNT, MICROSOFT_ACCOUNT


class Replayer:
    """Records the raw ID tokens validated; once armed, validates the first one instead."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.armed = False

    def __call__(self, raw: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.seen.append(raw)
        if self.armed:
            raw = self.seen[0]
        return validate_id_token(raw, *args, **kwargs)


@pytest.fixture
def replayer(monkeypatch: pytest.MonkeyPatch) -> Replayer:
    spy = Replayer()
    monkeypatch.setattr(connectors.oidc, "validate_id_token", spy)
    monkeypatch.setattr(connectors.microsoft, "validate_id_token", spy)
    return spy


@pytest.mark.parametrize(
    ("provider", "account"),
    [("google", GOOGLE_ACCOUNT), ("microsoft", MICROSOFT_ACCOUNT), ("emulator", GENERIC_ACCOUNT)],
)
def test_an_id_token_from_another_flow_is_refused(
    sign_in: Any,
    client: FlaskClient,
    another_browser: Any,
    replayer: Replayer,
    redis_client: Any,
    provider: str,
    account: str,
) -> None:
    """T10: replayed ID token → rejected, 0 sessions created (ASVS 10.5.1)."""
    first = sign_in.complete(provider, account)
    assert first.status_code == 303
    assert len(replayer.seen) == 1

    replayer.armed = True
    victim = another_browser()
    sessions_before = set(redis_client.scan_iter("gw:session:*"))
    refused = victim.complete(provider, account)
    assert len(replayer.seen) == 2 and replayer.seen[1] != replayer.seen[0]
    assert refused.status_code == 400, refused.get_data(as_text=True)
    assert "id_token_invalid" in refused.get_data(as_text=True) or "nonce" in refused.get_data(
        as_text=True
    )
    assert victim.client.get("/v1/me").status_code == 401
    created = set(redis_client.scan_iter("gw:session:*")) - sessions_before
    for key in created:  # at most the anonymous pre-sign-in session, never a signed-in one
        assert '"uid"' not in redis_client.get(key)


def test_the_same_browser_cannot_replay_its_own_earlier_id_token(
    sign_in: Any, client: FlaskClient, replayer: Replayer
) -> None:
    """T10: the nonce is single-use even for the browser that received the token."""
    assert sign_in.complete("google", GOOGLE_ACCOUNT).status_code == 303
    client.post("/auth/logout", headers={"Accept": "application/json"})
    replayer.armed = True
    refused = sign_in.complete("google", GOOGLE_ACCOUNT)
    assert refused.status_code == 400


def test_every_flow_gets_its_own_nonce_state_and_verifier(
    client: FlaskClient, sign_in: Any, emulator: Any
) -> None:
    """ASVS 10.1.2 / 11.5.1: 60 flows → 60 distinct nonces, states and PKCE challenges,
    each ≥ 128 bits (≥ 22 base64url characters)."""
    for _ in range(60):
        sign_in.http.get(sign_in.start("google"), allow_redirects=False, timeout=10)
    sent = [a["params"] for a in emulator.client.authorizations()]
    assert len(sent) == 60
    for name in ("nonce", "state", "code_challenge"):
        values = [p[name] for p in sent]
        assert len(set(values)) == 60, name
        assert min(map(len, values)) >= 22, name
    assert {p["code_challenge_method"] for p in sent} == {"S256"}

"""The webhook as Graph calls it, before any subscription: the validation handshake is
echoed as plain text and changes nothing, and whatever Graph would not send is a 4xx JSON
error, never a 5xx (the live push tests are tests/gateway/services/test_microsoft_watches.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask


def stored(redis_contents: Any) -> list[str]:
    """What Redis holds, but the rate limiter's counters (a handshake counts as a request)."""
    return [line for line in redis_contents().splitlines() if ":limits:" not in line]


@pytest.mark.parametrize(
    "token",
    [
        "Validation: Testing client application reachability for subscription Request-Id: 1",
        "<script>alert(1)</script>&<b>",
    ],
)
def test_the_validation_handshake_echoes_the_token_as_plain_text_and_changes_nothing(
    app: Flask, redis_contents: Any, token: str
) -> None:
    before = stored(redis_contents)
    answer = app.test_client().post("/webhooks/microsoft", query_string={"validationToken": token})
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.get_data(as_text=True) == token
    assert stored(redis_contents) == before


@pytest.mark.parametrize("token", ["", "x" * 1025, "two\nlines"])
def test_a_malformed_validation_token_is_a_4xx_json_error(app: Flask, token: str) -> None:
    answer = app.test_client().post("/webhooks/microsoft", query_string={"validationToken": token})
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_notification"
    assert not token or token not in answer.get_data(as_text=True)  # never echoed


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"\xff\xfe", b"[" * 60_000, b'{"value": [{"changeType": "x"}]}']
)
def test_what_graph_would_not_send_is_a_4xx_json_error(app: Flask, body: bytes) -> None:
    answer = app.test_client().post(
        "/webhooks/microsoft", data=body, content_type="application/json"
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_notification"

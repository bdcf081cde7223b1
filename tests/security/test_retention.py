"""T34 / ASVS 5.0 14.2.7 (4.0.3 8.3.8), GDPR Art. 5(1)(e): SCAN plus TTL over every key a
realistic run leaves in Redis (a host with a grant and a bound room, a cached free/busy
answer, an API client with a rate-limit window, a pending sign-in, signed-in sessions).

Every key must belong to a known class. Transient classes carry a TTL within their bound:
flow ≤ 600 s, session ≤ the idle limit (1800 s), free/busy cache ≤ fresh + stale bound
(120 + 3600 s by default), rate-limit windows ≤ their window, a room's access history
≤ 1 year. Records kept until revoked or erased (grants, profiles, identities, rooms,
bindings, API clients) have no TTL by design; the retention command ends unused grants and
trims the audit stream (tests/gateway/services/test_retention.py). Measured: 0 cache keys
without a TTL."""

from __future__ import annotations

import re
from typing import Any

import redis
from flask import Flask

from tests.hosts import Hosts
from tests.security.support import DAY, api_client, bearer

U = r"gw:\{u:[A-Za-z0-9_-]+\}"
KEPT = [  # until revoked, erased or deleted by an admin
    rf"{U}:(grant:[A-Za-z0-9_-]+(:cached)?|grants|profile|identities|index|hosted|bindings)",
    rf"{U}:binding:[a-z0-9-]+",
    r"gw:ident:[a-z]+:[0-9a-f]+",
    r"gw:room:[a-z0-9-]+(:bound)?",
    r"gw:rooms",
    r"gw:\{clients\}(:[0-9a-f]+)?",
    r"gw:\{answers\}:generation",  # a counter, no personal data (storage/answers.py)
    r"gw:audit",  # pseudonymous; the retention sweep trims it to the catalogue's max_age
    r"gw:stable-secrets",  # the gateway's own keys, no personal data (storage/stable_secrets.py)
    r"gw:consent-texts",  # consent text digests, no personal data (storage/consent_events.py)
]


def transient_bounds(app: Flask) -> list[tuple[str, int]]:
    settings = app.extensions["gateway"].settings
    fresh, stale = settings.freebusy_ttl_seconds, settings.freebusy_stale_seconds
    return [
        (r"gw:flow-spent:[0-9a-f]+", 600),
        (r"gw:session:[0-9a-f]+", settings.session_idle_seconds),
        (rf"{U}:fb:.+", fresh + stale + 120),
        (r"gw:limits:.+", 3600),
        (r"gw:room:[a-z0-9-]+:history", 366 * 86400),
    ]


def test_every_key_is_classified_and_every_transient_key_expires(
    app: Flask, sign_in: Any, another_browser: Any, redis_client: redis.Redis
) -> None:
    hosts = Hosts(app, sign_in, another_browser)
    alice, grant = hosts.host("google", "alice@example.com")
    hosts.room("atlas", alice, grant)
    secret = api_client(app, "fe", {"frontend"})
    answer = app.test_client().post(
        "/v1/freebusy", json={"rooms": ["atlas"], **DAY}, headers=bearer(secret)
    )
    assert answer.status_code == 200
    sign_in.start("google")  # a pending flow: nothing in Redis until its callback

    bounds = transient_bounds(app)
    unclassified, without_ttl, too_long = [], [], []
    seen_transient = set()
    for key in redis_client.scan_iter("*"):
        ttl = redis_client.ttl(key)
        bound = next((b for pattern, b in bounds if re.fullmatch(pattern, key)), None)
        if bound is not None:
            seen_transient.add(next(p for p, b in bounds if re.fullmatch(p, key)))
            if ttl < 0:
                without_ttl.append(key)
            elif ttl > bound:
                too_long.append((key, ttl, bound))
        elif not any(re.fullmatch(pattern, key) for pattern in KEPT):
            unclassified.append((key, ttl))
    assert unclassified == [], "a new kind of key: give it a TTL or a retention rule"
    assert without_ttl == []
    assert too_long == []
    assert len(seen_transient) == len(bounds), "the run should have made every transient kind"

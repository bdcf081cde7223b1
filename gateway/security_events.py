"""Security events (ASVS 5.0 16.2.1, 16.3.1-16.3.4): one JSON log record each.

`security_event` writes ONE record for each, on the logger `gateway.security`: a JSON log line
(gateway/request_log.py) plus `action`, `outcome`, `actor`, `subject` and `detail` (ids and
codes only, never a token, code, state or e-mail).
The actor is an opaque user id, `client:<id>` for an API client, `provider`, `system` or
`anonymous`. Event → record:

    login ok                 login / success        services/signin.py (callback)
    login failed             login / failure        blueprints/auth.py (any SignInError on
                                                    the callback: bad state, provider error)
    consent given            consent.give / success services/consent.py
    consent refused          consent.give / refused services/consent.py (scopes withheld)
    consent withdrawn        consent.withdraw / success  services/consent.py
    refresh failure          token.refresh / failure     services/grants.py (invalid_grant,
                                                    scope lost, provider error)
    revoke (user, admin)     grant.revoke / success services/revocation.py (actor tells who)
    admin: end sessions      sessions.end / success blueprints/admin.py
    admin: rooms, clients    room.* / api_client.* / success  services/rooms.py, api_clients.py
    erasure                  account.erase / success      services/privacy.py
    authorization deny       authz.deny / denied    here, for a 401 or 403, or a 404 from a
                                                    route (absent and not-yours answer alike)
    input reject             input.reject / rejected  here, for 400, 405, 413, 415, 422 or a
                                                    404 no route matched

The last two come from one after-request hook and only when the request recorded no event
of its own, so a refused sign-in is one `login` record, not also an `input.reject`. The
access line (`gateway.access`) is not an event record. Data-changing events also write one
entry to the audit stream (gateway/storage/audit.py; the catalogue's `audit_events` say
which), which is the durable, pseudonymised trail; the JSON line is the operational one.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, g, has_request_context, request, session

from gateway.request_ids import UNMATCHED, request_fields

SECURITY_LOGGER = "gateway.security"
EVENTS_KEY = "gateway.security_events"  # how many events this request has recorded
EVENT_FIELDS = ("action", "outcome", "actor", "subject", "detail")
DENIED = frozenset({401, 403})
REJECTED = frozenset({400, 405, 413, 415, 422})
REFUSED = DENIED | REJECTED | {404}  # the statuses that may need a record


def security_event(
    action: str, outcome: str, *, actor: str, subject: str = "", **detail: Any
) -> None:
    """Write the one JSON record of a security event (see the module docstring)."""
    extra: dict[str, Any] = {
        "action": action,
        "outcome": outcome,
        "actor": actor or "anonymous",
        "subject": subject,
        "detail": detail,
    }
    if has_request_context():
        request.environ[EVENTS_KEY] = int(request.environ.get(EVENTS_KEY, 0)) + 1
        # on the record itself, so a handler that formats later still names the request
        extra.update(request_fields(None))
    level = logging.INFO if outcome == "success" else logging.WARNING
    logging.getLogger(SECURITY_LOGGER).log(level, "%s %s", action, outcome, extra=extra)


def _caller() -> str:
    """Who is asking, for a refusal record: the API client, else the signed-in user."""
    found = g.get("api_caller")
    if found is not None:
        return f"client:{found.id}" if found.kind == "client" else str(found.id)
    uid = session.get("uid")
    return uid if isinstance(uid, str) else "anonymous"


def record_refusal(response: Response) -> Response:
    """One `authz.deny` or `input.reject` record for a refused request that wrote none."""
    status = response.status_code
    if status not in REFUSED or request.environ.get(EVENTS_KEY):
        return response  # most answers: no refusal, decided without touching the request
    if status in DENIED or (status == 404 and request.endpoint):
        action, outcome = "authz.deny", "denied"
    else:  # REJECTED, or a 404 no route matched
        action, outcome = "input.reject", "rejected"
    endpoint = request.endpoint or UNMATCHED
    security_event(action, outcome, actor=_caller(), subject=endpoint, status=status)
    return response

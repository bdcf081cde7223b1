"""The control API under /_emulator/: how tests and demos steer the emulator (JSON only).

Stable and public: queued sign-in answers, ID-token tampering, accounts, calendar events,
faults, call counters, clients, grants, settings and reset. Bad input is a 400
`{"error", "message"}`, never a stack trace.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from emulator.errors import control_error
from emulator.faults import current_state
from emulator.push import announce
from emulator.records import (
    ENDPOINTS,
    ID_TOKEN_TAMPERS,
    PROVIDERS,
    Account,
    AuthorizeAnswer,
    Client,
    Event,
    Fault,
    Settings,
    new_subject,
)

SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
SETTING_NAMES = {f.name for f in fields(Settings)}
SCOPED_APIS = (
    "google.freebusy",
    "google.watch",
    "microsoft.getschedule",
    "microsoft.rooms",
    "microsoft.subscriptions",
)

bp = Blueprint("control", __name__, url_prefix="/_emulator")


class BadInput(ValueError):
    def __init__(self, message: str, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = error


@bp.errorhandler(BadInput)
def bad_input(error: BadInput) -> Response:
    return control_error(error.error, str(error))


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object", "invalid_json")
    return data


def text(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{name!r} must be a non-empty string")
    return value.strip()


def whole(data: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInput(f"{name!r} must be a whole number from {low} to {high}")
    return value


def moment(data: dict[str, Any], name: str) -> datetime:
    raw = text(data, name)
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{name!r} must be an RFC 3339 date-time") from None
    if value.tzinfo is None:
        raise BadInput(f"{name!r} needs a UTC offset or Z")
    return value


def known_email(email: str) -> bool:
    state = current_state()
    rooms = {str(r["emailAddress"]).lower() for r in state.rooms}
    return bool(state.accounts_by_email(email)) or email.lower() in rooms


@bp.post("/authorize-next")
def authorize_next() -> Any:
    data = body()
    account = str(text(data, "account")).lower()
    if not current_state().accounts_by_email(account):
        raise BadInput(f"no account {account!r}", "unknown_account")
    grant = data.get("grant", "all")
    if grant != "all" and not (isinstance(grant, list) and all(isinstance(s, str) for s in grant)):
        raise BadInput("'grant' must be \"all\" or a list of scopes")
    deny = data.get("deny", False)
    if not isinstance(deny, bool):
        raise BadInput("'deny' must be true or false")
    answer = AuthorizeAnswer(account, "all" if grant == "all" else tuple(grant), deny)
    state = current_state()
    with state.lock:
        state.authorize_queue.append(answer)
        queued = len(state.authorize_queue)
    return jsonify({"queued": queued}), 201


@bp.post("/id-token-next")
def id_token_next() -> Any:
    tamper = text(body(), "tamper")
    if tamper not in ID_TOKEN_TAMPERS:
        raise BadInput(f"'tamper' must be one of {', '.join(sorted(ID_TOKEN_TAMPERS))}")
    state = current_state()
    with state.lock:
        state.id_token_tampers.append(str(tamper))
    return jsonify({"queued": tamper}), 201


@bp.get("/accounts")
def list_accounts() -> Any:
    state = current_state()
    with state.lock:
        return jsonify([a.as_json() for a in state.accounts.values()])


@bp.post("/accounts")
def add_account() -> Any:
    data = body()
    email = str(text(data, "email")).lower()
    if "@" not in email:
        raise BadInput("'email' must be an e-mail address")
    provider = text(data, "provider")
    if provider not in PROVIDERS:
        raise BadInput(f"'provider' must be one of {', '.join(PROVIDERS)}")
    tenant = text(data, "tenant", required=False)
    if provider == "microsoft" and not tenant:
        raise BadInput("a Microsoft account needs a 'tenant' (GUID)")
    account = Account(
        provider=str(provider),
        email=email,
        name=str(text(data, "name")),
        subject=new_subject(str(provider), email),
        tenant=tenant.lower() if tenant and provider == "microsoft" else None,
        added=True,
    )
    current_state().add_account(account)
    return jsonify(account.as_json()), 201


@bp.post("/events")
def add_event() -> Any:
    data = body()
    owner = str(text(data, "account")).lower()
    if not known_email(owner):
        raise BadInput(f"no account or room {owner!r}", "unknown_account")
    start, end = moment(data, "start"), moment(data, "end")
    if end <= start:
        raise BadInput("'end' must be after 'start'")
    show_as = data.get("show_as", "busy")
    if show_as not in SHOW_AS:
        raise BadInput(f"'show_as' must be one of {', '.join(SHOW_AS)}")
    view_code = data.get("view_code")
    if view_code is not None and (not isinstance(view_code, str) or len(view_code) != 1):
        raise BadInput("'view_code' must be one character (an availabilityView code)")
    attendees = data.get("attendees") or []
    if not isinstance(attendees, list) or not all(isinstance(a, str) for a in attendees):
        raise BadInput("'attendees' must be a list of e-mail addresses")
    given_id = text(data, "id", required=False)
    if given_id is not None and (len(given_id) > 128 or not given_id.isprintable()):
        raise BadInput("'id' must be at most 128 printable characters")
    extra = {"id": given_id} if given_id else {}
    event = Event(
        **extra,
        owner=owner,
        calendar=str(text(data, "calendar", required=False) or "primary"),
        start=start,
        end=end,
        summary=text(data, "summary", required=False),
        location=text(data, "location", required=False),
        attendees=tuple(attendees),
        show_as=str(show_as),
        description=text(data, "description", required=False),
        organizer=text(data, "organizer", required=False),
        view_code=view_code,
    )
    state = current_state()
    with state.lock:
        # an event with the same id is replaced, so a seeding script can run again
        before = next((e for e in state.events if e.id == event.id), None)
        state.events[:] = [*(e for e in state.events if e.id != event.id), event]
    announce(state, before, event)  # watchers hear of it, as from a real calendar
    return jsonify({"id": event.id}), 200 if before is not None else 201


@bp.post("/faults")
def add_fault() -> Any:
    data = body()
    name = text(data, "endpoint")
    if name not in ENDPOINTS:
        raise BadInput(f"unknown endpoint {name!r}; known: {', '.join(sorted(ENDPOINTS))}")
    retry_after = data.get("retry_after")
    if retry_after is not None:
        if isinstance(retry_after, bool) or not isinstance(retry_after, int | float | str):
            raise BadInput("'retry_after' must be a number of seconds or an HTTP date")
        retry_after = str(retry_after)
    malformed = data.get("body")
    if malformed not in (None, "malformed"):
        raise BadInput("'body' must be \"malformed\" or null")
    error = data.get("error")
    if error not in (None, "invalid_grant", "interaction_required", "insufficient_scope"):
        raise BadInput(
            "'error' must be invalid_grant, interaction_required, insufficient_scope or null"
        )
    if error == "interaction_required" and name != "microsoft.token":
        raise BadInput("'error' interaction_required applies to microsoft.token only")
    if error == "invalid_grant" and not str(name).endswith(".token"):
        raise BadInput("'error' invalid_grant applies to token endpoints only")
    if error == "insufficient_scope" and name not in SCOPED_APIS:
        raise BadInput(f"'error' insufficient_scope applies to {', '.join(SCOPED_APIS)} only")
    times = whole(data, "times", 1, -1, 1_000_000)
    if times == 0:
        raise BadInput("'times' must be positive, or -1 for ever")
    fault = Fault(
        status=whole(data, "status", None, 100, 599),
        retry_after=retry_after,
        delay_ms=whole(data, "delay_ms", 0, 0, 60_000) or 0,
        body=malformed,
        error=error,
        times=int(times or 1),
    )
    state = current_state()
    with state.lock:
        state.faults[str(name)].append(fault)
    return jsonify({"endpoint": name, "queued": len(state.faults[str(name)])}), 201


@bp.delete("/faults")
def clear_faults() -> Any:
    """Drop every queued fault (the test's outage is over); grants, events, tokens and
    counters stay, unlike /reset."""
    state = current_state()
    with state.lock:
        cleared = sum(len(queue) for queue in state.faults.values())
        state.faults.clear()
    return jsonify({"cleared": cleared})


@bp.get("/calls")
def calls() -> Any:
    state = current_state()
    with state.lock:
        return jsonify(dict(state.calls))


@bp.get("/authorizations")
def authorizations() -> Any:
    """The authorization requests received since the last reset, oldest first."""
    state = current_state()
    with state.lock:
        return jsonify(list(state.authorizations))


@bp.post("/reset")
def reset() -> Any:
    current_state().reset()
    return jsonify({"reset": True})


@bp.post("/clients")
def register_client() -> Any:
    data = body()
    client_id = str(text(data, "client_id"))
    secret = str(text(data, "client_secret"))
    uris = data.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise BadInput("'redirect_uris' must be a non-empty list of URLs")
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise BadInput(f"{uri!r} is not an absolute http(s) URL without a fragment")
    state = current_state()
    with state.lock:
        state.clients[client_id] = Client(client_id, secret, tuple(uris))
    return jsonify({"client_id": client_id, "redirect_uris": uris}), 201


def grant_accounts(data: dict[str, Any]) -> list[Account]:
    email = str(text(data, "account")).lower()
    provider = text(data, "provider", required=False)
    found = [a for a in current_state().accounts_by_email(email) if provider in (None, a.provider)]
    if not found:
        raise BadInput(f"no account {email!r}", "unknown_account")
    return found


@bp.post("/grants")
def set_grant() -> Any:
    data = body()
    accounts = grant_accounts(data)
    client_id = str(text(data, "client_id"))
    scopes = data.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise BadInput("'scopes' must be a list of scopes")
    state = current_state()
    with state.lock:
        for account in accounts:
            state.grants[(account.key, client_id)] = tuple(dict.fromkeys(scopes))
    return jsonify({"granted": scopes, "accounts": [a.key for a in accounts]})


@bp.delete("/grants")
def revoke_grant() -> Any:
    data = body()
    accounts = grant_accounts(data)
    client_id = str(text(data, "client_id"))
    state = current_state()
    with state.lock:
        revoked = sum(state.revoke_family(a.key, client_id) for a in accounts)
    return jsonify({"revoked_tokens": revoked})


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Any:
    state = current_state()
    if request.method == "POST":
        data = body()
        unknown = set(data) - SETTING_NAMES
        if unknown:
            raise BadInput(f"unknown settings: {', '.join(sorted(unknown))}")
        with state.lock:
            for name, value in data.items():
                if name in ("google_issuer", "generic_issuer"):
                    if value is not None and not isinstance(value, str):
                        raise BadInput(f"{name!r} must be a string or null")
                elif value is None:
                    raise BadInput(f"{name!r} must be a whole number")
                else:
                    value = whole(data, name, None, 0, 10_000_000)
                setattr(state.settings, name, value)
    with state.lock:
        return jsonify({f: getattr(state.settings, f) for f in sorted(SETTING_NAMES)})

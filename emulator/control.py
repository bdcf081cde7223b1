"""The control API under /_emulator/: how tests and demos steer the emulator (JSON only).

Stable and public: queued sign-in answers, ID-token tampering, accounts, call counters,
clients, grants, settings and reset here; calendar events (control_events.py), faults
(control_faults.py) and push (control_push.py) beside it. Bad input is a 400
`{"error", "message"}`, never a stack trace.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request

from emulator.control_input import BadInput, bad_input, body, text, whole
from emulator.faults import current_state
from emulator.records import (
    ID_TOKEN_TAMPERS,
    PROVIDERS,
    Account,
    AuthorizeAnswer,
    Client,
    Settings,
    new_subject,
)

SETTING_NAMES = {f.name for f in fields(Settings)}

bp = Blueprint("control", __name__, url_prefix="/_emulator")
bp.register_error_handler(BadInput, bad_input)


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

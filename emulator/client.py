"""`EmulatorClient`: the control API from Python, over HTTPS trusting the emulator's CA.

`trust_env` is off so `REQUESTS_CA_BUNDLE` or a proxy setting cannot redirect or break it.
Also `read_form_post`, for tests and benchmarks that play the browser at a form_post answer.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests

TIMEOUT = (3.0, 30.0)


def read_form_post(page: str) -> tuple[str | None, dict[str, str]]:
    """The action and the input values of the first form in a page: what a browser submits
    from a form_post answer (pages.form_post_page)."""
    reader = _FirstForm()
    reader.feed(page)
    return reader.action, reader.fields


class _FirstForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = found.get("action")
        elif tag == "input" and found.get("name"):
            self.fields[str(found["name"])] = found.get("value") or ""


class EmulatorError(RuntimeError):
    """The control API refused a request; `error` is its machine code."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error


class EmulatorClient:
    """Steer a running emulator: queue sign-in answers, faults, events; read counters."""

    def __init__(self, url: str, ca_path: str | Path) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.verify = str(ca_path)
        self.http.trust_env = False

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        response = self.http.request(
            method, f"{self.url}/_emulator/{path}", json=json, timeout=TIMEOUT
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body if isinstance(body, dict) else {}
            raise EmulatorError(
                response.status_code,
                str(error.get("error", "error")),
                str(error.get("message", response.text[:200])),
            )
        return body

    # -- sign-in -------------------------------------------------------------------------
    def authorize_next(
        self, account: str, grant: str | list[str] = "all", deny: bool = False
    ) -> None:
        """The next authorization request (any provider) completes at once as `account`."""
        self._call("POST", "authorize-next", {"account": account, "grant": grant, "deny": deny})

    def id_token_next(self, tamper: str) -> None:
        """The next ID token is wrong in one way: iss|aud|expired|nonce|alg-none|signature."""
        self._call("POST", "id-token-next", {"tamper": tamper})

    def accounts(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "accounts"))

    def add_account(
        self, email: str, name: str, provider: str, tenant: str | None = None
    ) -> dict[str, Any]:
        body = {"email": email, "name": name, "provider": provider, "tenant": tenant}
        return dict(self._call("POST", "accounts", body))

    # -- calendars -----------------------------------------------------------------------
    def add_event(
        self,
        account: str,
        start: str,
        end: str,
        calendar: str = "primary",
        summary: str | None = None,
        location: str | None = None,
        attendees: list[str] | None = None,
        show_as: str = "busy",
        description: str | None = None,
        organizer: str | None = None,
        view_code: str | None = None,
        event_id: str | None = None,
    ) -> str:
        """Put an event on `account`'s (or a room's) calendar; returns its id. `view_code`
        plants the character getSchedule's availabilityView shows for its slots; an
        `event_id` already used replaces that event (seeding can run again)."""
        body = {
            "account": account,
            "start": start,
            "end": end,
            "calendar": calendar,
            "summary": summary,
            "location": location,
            "attendees": attendees or [],
            "show_as": show_as,
            "description": description,
            "organizer": organizer,
        }
        if view_code is not None:
            body["view_code"] = view_code
        if event_id is not None:
            body["id"] = event_id
        return str(self._call("POST", "events", body)["id"])

    # -- faults and counters -------------------------------------------------------------
    def fault(
        self,
        endpoint: str,
        status: int | None = None,
        retry_after: float | str | None = None,
        delay_ms: int = 0,
        body: str | None = None,
        error: str | None = None,
        times: int = 1,
    ) -> None:
        """Queue a fault for `endpoint` ("google.token", "microsoft.getschedule", ...)."""
        self._call(
            "POST",
            "faults",
            {
                "endpoint": endpoint,
                "status": status,
                "retry_after": retry_after,
                "delay_ms": delay_ms,
                "body": body,
                "error": error,
                "times": times,
            },
        )

    def clear_faults(self) -> int:
        """Drop every queued fault, keeping grants, events and counters; returns how many
        faults were queued."""
        return int(self._call("DELETE", "faults")["cleared"])

    def calls(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._call("GET", "calls").items()}

    def authorizations(self) -> list[dict[str, Any]]:
        """Authorization requests received since the last reset: provider, tenant, params."""
        return list(self._call("GET", "authorizations"))

    def reset(self) -> None:
        self._call("POST", "reset")

    # -- clients, grants, settings -------------------------------------------------------
    def register_client(self, client_id: str, secret: str, redirect_uris: list[str]) -> None:
        body = {"client_id": client_id, "client_secret": secret, "redirect_uris": redirect_uris}
        self._call("POST", "clients", body)

    def set_grant(
        self, account: str, client_id: str, scopes: list[str], provider: str | None = None
    ) -> None:
        body = {"account": account, "client_id": client_id, "scopes": scopes, "provider": provider}
        self._call("POST", "grants", body)

    def revoke_grant(self, account: str, client_id: str, provider: str | None = None) -> int:
        """The person removes the app at the provider: its tokens die. Returns how many."""
        body = {"account": account, "client_id": client_id, "provider": provider}
        return int(self._call("DELETE", "grants", body)["revoked_tokens"])

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Change run-time settings (access_token_ttl, code_ttl, ...); returns all of them."""
        if not changes:
            return dict(self._call("GET", "settings"))
        return dict(self._call("POST", "settings", changes))

    # -- push: events changing, channels, subscriptions, deliveries ------------------------
    def delete_event(self, event_id: str) -> None:
        """Remove an event; channels and subscriptions watching its calendar hear of it."""
        self._call("DELETE", f"events/{quote(event_id, safe='')}")

    def channels(self) -> list[dict[str, Any]]:
        """Google channels (each with `live`), stopped and expired ones included."""
        return list(self._call("GET", "channels"))

    def subscriptions(self) -> list[dict[str, Any]]:
        """Graph subscriptions (each with `live`), deleted and expired ones included."""
        return list(self._call("GET", "subscriptions"))

    def expire_channel(self, channel_id: str) -> None:
        self._call("POST", f"channels/{quote(channel_id, safe='')}/expire")

    def expire_subscription(self, subscription_id: str) -> None:
        self._call("POST", f"subscriptions/{quote(subscription_id, safe='')}/expire")

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """Graph sends `event` (reauthorizationRequired, subscriptionRemoved, missed) to the
        subscription's lifecycleNotificationUrl; subscriptionRemoved also ends it."""
        self._call(
            "POST", f"subscriptions/{quote(subscription_id, safe='')}/lifecycle", {"event": event}
        )

    def deliveries(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The delivery log once queued deliveries were attempted: kind, target, url,
        status, outcome, state, message_number, forged."""
        path = "deliveries" if kind is None else f"deliveries?kind={quote(kind)}"
        return list(self._call("GET", path))

    def delivery_fault(
        self,
        kind: str | None = None,
        delay_ms: int = 0,
        drop: bool = False,
        duplicate: bool = False,
        forge: bool = False,
        times: int = 1,
        reorder: bool = False,
    ) -> None:
        """The next `times` deliveries of `kind` (google, graph, validation, lifecycle;
        None: any) come late, never, twice, with a wrong token/clientState, or after the
        delivery that follows them (`reorder`)."""
        body = {
            "kind": kind,
            "delay_ms": delay_ms,
            "drop": drop,
            "duplicate": duplicate,
            "forge": forge,
            "reorder": reorder,
            "times": times,
        }
        self._call("POST", "delivery-faults", body)

    def clear_delivery_faults(self) -> int:
        return int(self._call("DELETE", "delivery-faults")["cleared"])

"""What an ending action says on the next page, carried in the redirect (`?done=...`), not
in the session: a disconnect or withdrawal must succeed while Redis takes no write (at its
memory limit the secrets are destroyed by deletes alone, services/revocation.py), and a
flashed message would be a session write. Only these fixed texts can be shown this way."""

from __future__ import annotations

from flask import request

DONE = {
    "disconnected": "Disconnected: the calendar is no longer read, its tokens and cached busy "
    "times are deleted, and the consent for it is withdrawn.",
    "withdrawn": "Consent withdrawn: the calendar access it allowed has ended and its data "
    "is deleted.",
    "room-created": "Room created.",
    "room-saved": "Room saved.",
    "room-deleted": "Room deleted: members and API clients no longer see it.",
    "client-disabled": "API client disabled: its secret is refused from now on.",
    "client-enabled": "API client enabled again.",
    "client-deleted": "API client deleted: its secret is refused from now on.",
}


def done_notice() -> dict[str, str | None]:
    """For every template (registered as an app context processor)."""
    return {"done_notice": DONE.get(request.args.get("done", ""))}
